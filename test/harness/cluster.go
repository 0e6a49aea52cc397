package harness

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// Cluster is a JetStream cluster of nats-server processes with routes on
// 127.0.0.1 random ports.
type Cluster struct {
	Nodes []*NATS
}

// StartCluster runs n nats-server processes with JetStream, routed to each
// other, each with its own store.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	ports := make([]int, n)
	routes := make([]string, n)
	for i := range n {
		ports[i] = FreePort(t)
		routes[i] = "nats://127.0.0.1:" + strconv.Itoa(ports[i])
	}
	c := &Cluster{}
	for i := range n {
		c.Nodes = append(c.Nodes, StartNATS(t,
			"--server_name", fmt.Sprintf("n%d", i+1), "--cluster_name", "billrelay",
			"--cluster", routes[i], "--routes", strings.Join(others(routes, i), ",")))
	}
	return c
}

func others(all []string, i int) []string {
	out := append([]string{}, all[:i]...)
	return append(out, all[i+1:]...)
}

// URL lists every node's client URL, comma-separated, the form
// RELAY_NATS_URL takes.
func (c *Cluster) URL() string {
	urls := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		urls[i] = n.URL
	}
	return strings.Join(urls, ",")
}
