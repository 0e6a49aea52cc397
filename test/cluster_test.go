package test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/billrelay/billrelay/test/harness"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// clusterEnv also spreads resellers over delivery shards: res-p lands on
// DELIVERY, res-w on DELIVERY_01, so both relays must agree on the layout.
var clusterEnv = []string{"RELAY_REPLICAS=3", "RELAY_FAILOVER_AFTER=2s", "RELAY_DELIVERY_SHARDS=4"}

func startOnCluster(t *testing.T, c *harness.Cluster) *harness.Relay {
	return harness.Start(t, append([]string{"RELAY_NATS_URL=" + c.URL()}, clusterEnv...)...)
}

// TestClusterTwoRelays runs two relays on a three-server cluster: every
// stream and bucket is R3; events published through either relay reach a
// pulling reseller once and a webhook once (one router, one pusher); when
// one relay dies the other goes on routing and pushing.
func TestClusterTwoRelays(t *testing.T) {
	c := harness.StartCluster(t, 3)
	r1, r2 := startOnCluster(t, c), startOnCluster(t, c)
	seller := r1.RegisterSeller("sell-1")
	tokP := r1.RegisterReseller("res-p", "sell-1", "acc-77")
	h := newHook(t)
	registerWebhook(t, r1, "res-w", h.srv.URL)
	if p, w := resellerStream(t, r1, "res-p"), resellerStream(t, r1, "res-w"); p != "DELIVERY" || w != "DELIVERY_01" {
		t.Fatalf("resellers placed on %s and %s, want DELIVERY and DELIVERY_01", p, w)
	}
	checkReplicas(t, c, 3)
	harness.WaitFor(t, 30*time.Second, "the second relay to learn the seller", func() bool {
		status, _ := r2.Do(http.MethodGet, "/v1/resellers/res-p/events?max=1&wait=0s", tokP, nil)
		return status == http.StatusOK
	})

	var ids []string
	for i := range 40 {
		id := fmt.Sprintf("c-%02d", i)
		ids = append(ids, id)
		via := []*harness.Relay{r1, r2}[i%2]
		via.Publish(seller, harness.StateChange(id, "sell-1", "acc-77", fmt.Sprint(i%5), "active"))
	}
	got := r2.PullN("res-p", tokP, 40, 60*time.Second)
	if len(unique(harness.IDs(got))) != 40 {
		t.Fatalf("pulling reseller got %d deliveries, %d distinct: %v", len(got), len(unique(harness.IDs(got))), harness.IDs(got))
	}
	r1.AckAll("res-p", tokP, got)
	rs := h.waitFor(t, "40 webhook deliveries", func(rs []hookReq) bool { return len(unique(hookIDs(rs))) == 40 })
	if len(rs) != 40 {
		t.Fatalf("webhook got %d requests for 40 events: %v", len(rs), hookIDs(rs))
	}
	checkItemOrder(t, rs)

	r1.Kill()
	for i := range 10 {
		r2.Publish(seller, harness.StateChange(fmt.Sprintf("d-%02d", i), "sell-1", "acc-77", "x", "active"))
	}
	h.waitFor(t, "webhook deliveries after one relay died", func(rs []hookReq) bool { return len(unique(hookIDs(rs))) == 50 })
	if more := r2.PullN("res-p", tokP, 10, 60*time.Second); len(unique(harness.IDs(more))) != 10 {
		t.Fatalf("after one relay died the puller got %v", harness.IDs(more))
	}
}

// checkReplicas connects to the cluster and checks every stream (buckets
// included) has n replicas placed.
func checkReplicas(t *testing.T, c *harness.Cluster, n int) {
	t.Helper()
	js := connectJS(t, c.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	count := 0
	for si := range js.ListStreams(ctx).Info() {
		count++
		if si.Config.Replicas != n || si.Cluster == nil || len(si.Cluster.Replicas) != n-1 {
			t.Errorf("stream %s: %d replicas configured, cluster %+v", si.Config.Name, si.Config.Replicas, si.Cluster)
		}
	}
	if count < 10 {
		t.Fatalf("only %d streams on the cluster", count)
	}
}

// TestClusterNodeKilledUnderLoad kills one of three NATS servers while
// sellers publish and a reseller pulls: every event answered 202 is
// delivered, and the figures of the failover are logged.
func TestClusterNodeKilledUnderLoad(t *testing.T) {
	c := harness.StartCluster(t, 3)
	// Deliveries in flight to the killed server come back after the ack
	// wait; a short one keeps the test short.
	r := harness.Start(t, append([]string{"RELAY_NATS_URL=" + c.URL(), "RELAY_ACK_WAIT=5s"}, clusterEnv...)...)
	seller := r.RegisterSeller("sell-1")
	tok := r.RegisterReseller("res-p", "sell-1", "acc-77")
	urls := func() []string { return []string{r.URL} }
	drain := harness.StartDrain(urls, "res-p", tok)
	load := harness.StartLoad(urls, seller, 8, func(i int) map[string]any {
		return harness.StateChange(fmt.Sprintf("n-%05d", i), "sell-1", "acc-77", fmt.Sprint(i%50), "active")
	})
	wait(t, load.Reached(300), "300 events before the kill")
	leader := streamLeader(t, c, "INGEST")
	killed := time.Now()
	c.Nodes[leader].Kill()
	wait(t, load.Reached(900), "600 more events after the kill")
	accepted, refused, gap := load.Stop()
	if missing := drain.WaitAll(accepted, 90*time.Second); len(missing) > 0 {
		t.Fatalf("%d of %d accepted events never delivered, e.g. %v", len(missing), len(accepted), missing[:min(5, len(missing))])
	}
	deliveredIn := time.Since(killed)
	counts := drain.Stop()
	dups := 0
	for _, n := range counts {
		dups += n - 1
	}
	t.Logf("INGEST leader killed under load: %d accepted, all delivered %.1fs after the kill; refusals by status %v; longest gap between 202s %s; %d duplicate deliveries (same ids)",
		len(accepted), deliveredIn.Seconds(), refused, gap.Round(time.Millisecond), dups)
}

// connectJS is a JetStream client of the servers at url, closed with the
// test.
func connectJS(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	return js
}

// streamLeader is the index of the node that leads stream.
func streamLeader(t *testing.T, c *harness.Cluster, stream string) int {
	t.Helper()
	js := connectJS(t, c.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil || s.CachedInfo().Cluster == nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	var i int
	if _, err := fmt.Sscanf(s.CachedInfo().Cluster.Leader, "n%d", &i); err != nil {
		t.Fatalf("leader %q: %v", s.CachedInfo().Cluster.Leader, err)
	}
	return i - 1
}

func wait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(120 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// TestLeafNode runs the relay as a leaf node of a hub server: its streams
// live in the hub's JetStream, and sellers and resellers use the relay as
// usual.
func TestLeafNode(t *testing.T) {
	hub, leafURL := harness.StartHub(t)
	w := startShared(t, "RELAY_NATS_LEAF="+leafURL, "RELAY_NATS_DOMAIN=hub")
	w.r.Publish(w.seller, harness.StateChange("leaf-1", "sell-1", "acc-77", "i", "active"))
	if got := w.r.PullN("res-b", w.tb, 1, 30*time.Second); got[0].Event.ID != "leaf-1" {
		t.Fatalf("got %v", harness.IDs(got))
	}
	js := connectJS(t, hub.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, "EVENTS")
	if err != nil || s.CachedInfo().State.Msgs != 1 {
		t.Fatalf("EVENTS on the hub: %v, %+v", err, s)
	}
	if !strings.Contains(w.r.Logs(), `"nats_leaf":true`) {
		t.Fatalf("relay did not say it runs as a leaf node")
	}
	// Without the hub nothing can be stored, so nothing may be accepted:
	// the relay retries for its commit timeout (30s), then answers 503.
	hub.Kill()
	status, out := w.r.Do(http.MethodPost, "/v1/events", w.seller, harness.StateChange("leaf-2", "sell-1", "acc-77", "i", "suspended"))
	if status != http.StatusServiceUnavailable {
		t.Fatalf("publish with the hub down: %d %s, want 503", status, out)
	}
}
