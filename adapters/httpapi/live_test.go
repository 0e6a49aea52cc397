package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/billrelay/billrelay/adapters/httpapi"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/node"
	"github.com/billrelay/billrelay/relay/node/nodetest"
	"github.com/billrelay/billrelay/test/harness"
	"github.com/rs/zerolog"
)

// live is a relay on an embedded NATS server in t.TempDir() behind the
// real HTTP API on 127.0.0.1, with seller sell-1 and reseller res-a on
// account acc-77, and every log line captured.
type live struct {
	r      *node.Node
	url    string
	seller string // sell-1's token
	resA   string // res-a's token
	logs   *syncBuffer
}

const adminToken = "bra_test_admin"

func startLive(t *testing.T, endpoints func(*node.Node) []relay.Endpoint) *live {
	t.Helper()
	logs := &syncBuffer{}
	log := zerolog.New(logs).Level(zerolog.DebugLevel)
	r := nodetest.OpenLog(t, relay.Config{AckWait: 5 * time.Second}, log)
	t.Cleanup(func() { r.Close() })
	l := &live{r: r, logs: logs}
	_, l.seller = nodetest.Seller(t, r, "sell-1")
	creds := nodetest.Reseller(t, r, "res-a", "sell-1", "acc-77")
	l.resA = creds.Token
	cfg := httpapi.Config{Addr: "127.0.0.1:0", AdminToken: adminToken}
	if endpoints != nil {
		cfg.Endpoints = endpoints(r)
	}
	cfg.Ingest, cfg.Inbox, cfg.Directory, cfg.Admin, cfg.Health, cfg.Metrics = r.Ingest(), r.Inbox(), r.Registry(), r.Admin(), r, r.Metrics()
	srv, err := httpapi.New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve() }()
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-served
	})
	l.url = "http://" + addr.String()
	return l
}

// do sends a request and returns the status, headers and body.
func (l *live) do(t *testing.T, ctx context.Context, method, path, token string, body any) (int, http.Header, []byte) {
	t.Helper()
	return harness.DoContext(ctx, t, method, l.url+path, token, body)
}

func stateChange(id, item, state string) map[string]any {
	return map[string]any{"specversion": "1.0", "id": id, "source": "/test/sell-1", "type": "service.state_changed",
		"seller": "sell-1", "account": "acc-77", "item": item, "data": map[string]any{"state": state}}
}

// publish posts one event and requires 202.
func (l *live) publish(t *testing.T, id string) {
	t.Helper()
	status, _, out := l.do(t, context.Background(), "POST", "/v1/events", l.seller, stateChange(id, "item-"+id, "active"))
	if status != http.StatusAccepted {
		t.Fatalf("publish %s: %d %s", id, status, out)
	}
}

// pullIDs long-polls res-a until n events arrived, acks them, and returns
// their ids in order.
func (l *live) pullIDs(t *testing.T, n int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var ids, acks []string
	for len(ids) < n && ctx.Err() == nil {
		status, _, out := l.do(t, ctx, "GET", fmt.Sprintf("/v1/resellers/res-a/events?max=%d&wait=5s", n-len(ids)), l.resA, nil)
		if status != http.StatusOK {
			t.Fatalf("pull: %d %s", status, out)
		}
		var got struct {
			Events []struct {
				Event struct {
					ID string `json:"id"`
				} `json:"event"`
				AckID string `json:"ack_id"`
			} `json:"events"`
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("pull answer %s: %v", out, err)
		}
		for _, d := range got.Events {
			ids, acks = append(ids, d.Event.ID), append(acks, d.AckID)
		}
	}
	if status, _, out := l.do(t, ctx, "POST", "/v1/resellers/res-a/acks", l.resA, map[string]any{"ack": acks}); status != http.StatusOK {
		t.Fatalf("ack: %d %s", status, out)
	}
	return ids
}

// waitReady polls /readyz until it answers want, and returns the last
// answer's body and headers.
func (l *live) waitReady(t *testing.T, want int) ([]byte, http.Header) {
	t.Helper()
	var status int
	var h http.Header
	var out []byte
	harness.WaitFor(t, 60*time.Second, fmt.Sprintf("/readyz to answer %d", want), func() bool {
		status, h, out = l.do(t, context.Background(), "GET", "/readyz", "", nil)
		return status == want
	})
	return out, h
}

// syncBuffer collects log lines from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
