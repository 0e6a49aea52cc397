package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// healthcheckCommand asks the relay on this machine whether it is ready:
// exit 0 when /readyz answers 200, 1 otherwise. It exists for container
// HEALTHCHECKs, which run inside images that have no curl or wget.
func healthcheckCommand(ctx context.Context, stderr io.Writer) int {
	url := envOr("RELAY_HEALTH_URL", "")
	if url == "" {
		url = "http://" + localAddr(envOr("RELAY_HTTP_ADDR", defaultHTTPAddr)) + "/readyz"
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		fmt.Fprintf(stderr, "billrelay healthcheck: %v\n", err)
		return 1
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "billrelay healthcheck: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "billrelay healthcheck: %s answered %d\n", url, resp.StatusCode)
		return 1
	}
	return 0
}

// localAddr turns a listen address into one to dial on this machine: a
// wildcard host (0.0.0.0, [::] or none) becomes the loopback.
func localAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
