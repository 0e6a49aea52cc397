package main

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func TestHealthcheckFollowsReadyz(t *testing.T) {
	var code atomic.Int32
	code.Store(http.StatusServiceUnavailable)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(int(code.Load()))
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	t.Setenv("RELAY_HTTP_ADDR", "0.0.0.0:"+port) // the container's listen address
	if got := run([]string{"healthcheck"}, io.Discard, io.Discard); got != 1 {
		t.Fatalf("readyz 503: exit %d, want 1", got)
	}
	code.Store(http.StatusOK)
	if got := run([]string{"healthcheck"}, io.Discard, io.Discard); got != 0 {
		t.Fatalf("readyz 200: exit %d, want 0", got)
	}
	srv.Close()
	if got := run([]string{"healthcheck"}, io.Discard, io.Discard); got != 1 {
		t.Fatalf("relay down: exit %d, want 1", got)
	}
}

func TestLocalAddr(t *testing.T) {
	for in, want := range map[string]string{
		"0.0.0.0:8080":   "127.0.0.1:8080",
		":8080":          "127.0.0.1:8080",
		"[::]:8080":      "127.0.0.1:8080",
		"10.0.0.5:9000":  "10.0.0.5:9000",
		"127.0.0.1:8080": "127.0.0.1:8080",
	} {
		if got := localAddr(in); got != want {
			t.Errorf("localAddr(%q) = %q, want %q", in, got, want)
		}
	}
}
