package test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/billrelay/billrelay/test/harness"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// hook is a reseller's webhook endpoint for tests: it answers with
// respond and records every request.
type hook struct {
	srv     *httptest.Server
	mu      sync.Mutex
	reqs    []hookReq
	respond func(r hookReq, n int) (int, http.Header)
	changed chan struct{}
}

type hookReq struct {
	ID     string
	Item   string
	Header http.Header
	Body   []byte
	At     time.Time
}

func newHook(t *testing.T) *hook {
	h := &hook{changed: make(chan struct{}), respond: func(hookReq, int) (int, http.Header) { return 200, nil }}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var e struct{ ID, Item string }
		_ = json.Unmarshal(body, &e)
		req := hookReq{ID: e.ID, Item: e.Item, Header: r.Header.Clone(), Body: body, At: time.Now()}
		h.mu.Lock()
		n := 0
		for _, q := range h.reqs {
			if q.ID == req.ID {
				n++
			}
		}
		h.reqs = append(h.reqs, req)
		status, hdr := h.respond(req, n+1)
		close(h.changed)
		h.changed = make(chan struct{})
		h.mu.Unlock()
		for k, v := range hdr {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"answer":%d}`, status)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) setRespond(f func(r hookReq, n int) (int, http.Header)) {
	h.mu.Lock()
	h.respond = f
	h.mu.Unlock()
}

func (h *hook) requests() []hookReq {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookReq(nil), h.reqs...)
}

// waitFor waits on the hook's change signal until cond holds.
func (h *hook) waitFor(t *testing.T, what string, cond func([]hookReq) bool) []hookReq {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		h.mu.Lock()
		ch := h.changed
		h.mu.Unlock()
		if rs := h.requests(); cond(rs) {
			return rs
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("timed out waiting for %s; requests: %d", what, len(h.requests()))
		}
	}
}

func countID(rs []hookReq, id string) int {
	n := 0
	for _, r := range rs {
		if r.ID == id {
			n++
		}
	}
	return n
}

var fastRetries = []string{"RELAY_WEBHOOK_BACKOFF=50ms,100ms,200ms", "RELAY_ACK_WAIT=5s"}

func registerWebhook(t *testing.T, r *harness.Relay, id, url string) (token, secret string) {
	t.Helper()
	status, out := r.Do(http.MethodPost, "/v1/resellers", harness.AdminToken,
		map[string]any{"id": id, "seller": "sell-1", "accounts": []string{"acc-77"}, "webhook": map[string]any{"url": url}})
	var cred struct {
		Token         string `json:"token"`
		WebhookSecret string `json:"webhook_secret"`
	}
	if status != http.StatusCreated || json.Unmarshal(out, &cred) != nil || !strings.HasPrefix(cred.WebhookSecret, "whsec_") {
		t.Fatalf("register with webhook: %d %s", status, out)
	}
	return cred.Token, cred.WebhookSecret
}

// TestWebhookSignedRetriedWithSameID: every attempt is signed (verified by
// the Standard Webhooks library) and carries the event id as webhook-id.
func TestWebhookSignedRetriedWithSameID(t *testing.T) {
	h := newHook(t)
	r := harness.Start(t, fastRetries...)
	seller := r.RegisterSeller("sell-1")
	_, secret := registerWebhook(t, r, "res-w", h.srv.URL)
	verifier, _ := standardwebhooks.NewWebhook(secret)
	h.setRespond(func(q hookReq, n int) (int, http.Header) {
		if err := verifier.Verify(q.Body, q.Header); err != nil {
			t.Errorf("signature of %s attempt %d: %v", q.ID, n, err)
		}
		if n == 1 {
			return 503, nil
		}
		return 200, nil
	})
	r.Publish(seller, harness.StateChange("wh-1", "sell-1", "acc-77", "16643", "active"))
	rs := h.waitFor(t, "a retry after the 503", func(rs []hookReq) bool { return countID(rs, "wh-1") >= 2 })
	if rs[0].Header.Get("webhook-id") != "wh-1" || rs[1].Header.Get("webhook-id") != "wh-1" {
		t.Fatalf("webhook-id %q then %q, want the event id both times", rs[0].Header.Get("webhook-id"), rs[1].Header.Get("webhook-id"))
	}
	if status, _ := r.Do(http.MethodGet, "/v1/resellers/res-w/events", "", nil); status != http.StatusUnauthorized {
		t.Fatalf("pull without token: %d", status)
	}
}

func TestWebhookSecretRotationSignsWithBoth(t *testing.T) {
	h := newHook(t)
	r := harness.Start(t, fastRetries...)
	seller := r.RegisterSeller("sell-1")
	_, oldSecret := registerWebhook(t, r, "res-w", h.srv.URL)
	status, out := r.Do(http.MethodPut, "/v1/resellers/res-w/webhook", harness.AdminToken, map[string]any{"url": h.srv.URL})
	var rot struct {
		Secret string `json:"webhook_secret"`
	}
	if status != http.StatusOK || json.Unmarshal(out, &rot) != nil || rot.Secret == oldSecret {
		t.Fatalf("rotate: %d %s", status, out)
	}
	r.Publish(seller, harness.StateChange("rot-1", "sell-1", "acc-77", "1", "active"))
	rs := h.waitFor(t, "the event", func(rs []hookReq) bool { return countID(rs, "rot-1") >= 1 })
	for _, s := range []string{oldSecret, rot.Secret} {
		v, _ := standardwebhooks.NewWebhook(s)
		if err := v.Verify(rs[0].Body, rs[0].Header); err != nil {
			t.Fatalf("during rotation a receiver with %s… fails: %v (signature %q)", s[:10], err, rs[0].Header.Get("webhook-signature"))
		}
	}
	if n := len(strings.Fields(rs[0].Header.Get("webhook-signature"))); n != 2 {
		t.Fatalf("%d signatures during rotation, want 2", n)
	}
}

// TestWebhookGonePausesAndKeepsEvents: a 410 pauses the reseller, events
// keep accumulating, an operational event is raised, and resume delivers
// them all.
func TestWebhookGonePausesAndKeepsEvents(t *testing.T) {
	h := newHook(t)
	h.setRespond(func(hookReq, int) (int, http.Header) { return 410, nil })
	r := harness.Start(t, fastRetries...)
	seller := r.RegisterSeller("sell-1")
	registerWebhook(t, r, "res-w", h.srv.URL)
	r.Publish(seller, harness.StateChange("g-1", "sell-1", "acc-77", "1", "active"))
	h.waitFor(t, "the 410", func(rs []hookReq) bool { return len(rs) >= 1 })
	harness.WaitFor(t, 30*time.Second, "the reseller to be paused", func() bool {
		_, out := r.Do(http.MethodGet, "/v1/resellers/res-w", harness.AdminToken, nil)
		return strings.Contains(string(out), `"paused":true`)
	})
	r.Publish(seller, []any{harness.StateChange("g-2", "sell-1", "acc-77", "2", "active"), harness.StateChange("g-3", "sell-1", "acc-77", "3", "active")})
	harness.WaitFor(t, 30*time.Second, "events to accumulate", func() bool { return r.ResellerLag("res-w").Pending >= 2 })
	_, ops := r.Do(http.MethodGet, "/v1/ops/events", harness.AdminToken, nil)
	if !strings.Contains(string(ops), "relay.webhook.gone") || !strings.Contains(string(ops), "relay.reseller.paused") {
		t.Fatalf("no operational event for the 410: %s", ops)
	}
	h.setRespond(func(hookReq, int) (int, http.Header) { return 200, nil })
	if status, out := r.Do(http.MethodPost, "/v1/resellers/res-w/resume", harness.AdminToken, nil); status != http.StatusOK {
		t.Fatalf("resume: %d %s", status, out)
	}
	h.waitFor(t, "all three events after resume", func(rs []hookReq) bool {
		return countID(rs, "g-2") >= 1 && countID(rs, "g-3") >= 1 && countID(rs, "g-1") >= 2
	})
}

// TestWebhookRejectionDeadLettersAndRedrive: a 422 dead-letters the event
// with the status and body; redrive sends it back, marked, once.
func TestWebhookRejectionDeadLettersAndRedrive(t *testing.T) {
	h := newHook(t)
	reject := true
	var mu sync.Mutex
	h.setRespond(func(q hookReq, n int) (int, http.Header) {
		mu.Lock()
		defer mu.Unlock()
		if q.ID == "dl-1" && reject {
			return 422, nil
		}
		return 200, nil
	})
	r := harness.Start(t, fastRetries...)
	seller := r.RegisterSeller("sell-1")
	registerWebhook(t, r, "res-w", h.srv.URL)
	r.Publish(seller, []any{harness.StateChange("dl-1", "sell-1", "acc-77", "1", "active"), harness.StateChange("dl-2", "sell-1", "acc-77", "1", "suspended")})
	h.waitFor(t, "the item to move on past the rejected event", func(rs []hookReq) bool { return countID(rs, "dl-2") >= 1 })
	var list struct {
		Entries []struct {
			ID, Reseller, Reason string
			Attempts             int
			Event                struct{ ID string }
		}
	}
	harness.WaitFor(t, 30*time.Second, "the dead letter", func() bool {
		_, out := r.Do(http.MethodGet, "/v1/dlq?reseller=res-w", harness.AdminToken, nil)
		_ = json.Unmarshal(out, &list)
		return len(list.Entries) == 1
	})
	e := list.Entries[0]
	if e.Event.ID != "dl-1" || e.Reseller != "res-w" || !strings.Contains(e.Reason, "422") || !strings.Contains(e.Reason, "answer") || e.Attempts != 1 {
		t.Fatalf("dead letter %+v", e)
	}
	if countID(h.requests(), "dl-1") != 1 {
		t.Fatalf("a rejected event was retried")
	}
	if lag := r.ResellerLag("res-w"); lag.Pending != 0 {
		t.Fatalf("lag %+v", lag)
	}
	mu.Lock()
	reject = false
	mu.Unlock()
	redrive := map[string]any{"reseller": "res-w", "ids": []string{e.ID}}
	if status, out := r.Do(http.MethodPost, "/v1/dlq/redrive", harness.AdminToken, redrive); status != 200 || !strings.Contains(string(out), `"redriven":1`) {
		t.Fatalf("redrive: %d %s", status, out)
	}
	rs := h.waitFor(t, "the redriven event", func(rs []hookReq) bool { return countID(rs, "dl-1") >= 2 })
	last := rs[len(rs)-1]
	if last.ID != "dl-1" || last.Header.Get("Billrelay-Redriven") != "true" {
		t.Fatalf("redriven delivery %s without the mark: %v", last.ID, last.Header)
	}
	if _, out := r.Do(http.MethodPost, "/v1/dlq/redrive", harness.AdminToken, redrive); !strings.Contains(string(out), `"redriven":0`) {
		t.Fatalf("second redrive: %s", out)
	}
}

// TestWebhookRetryAfterAndCircuit: a 429 with Retry-After is honoured, and
// a receiver that keeps failing opens the circuit, which closes by itself
// when the receiver answers again.
func TestWebhookRetryAfterAndCircuit(t *testing.T) {
	h := newHook(t)
	h.setRespond(func(q hookReq, n int) (int, http.Header) {
		if q.ID == "ra-1" && n == 1 {
			return 429, http.Header{"Retry-After": {"1"}}
		}
		return 200, nil
	})
	r := harness.Start(t, append(fastRetries, "RELAY_CIRCUIT_THRESHOLD=3", "RELAY_CIRCUIT_COOLDOWN=200ms")...)
	seller := r.RegisterSeller("sell-1")
	registerWebhook(t, r, "res-w", h.srv.URL)
	r.Publish(seller, harness.StateChange("ra-1", "sell-1", "acc-77", "1", "active"))
	rs := h.waitFor(t, "the retry after 429", func(rs []hookReq) bool { return countID(rs, "ra-1") >= 2 })
	if gap := rs[1].At.Sub(rs[0].At); gap < 900*time.Millisecond {
		t.Fatalf("retried %v after a 429 asking for 1s", gap)
	}

	h.setRespond(func(hookReq, int) (int, http.Header) { return 500, nil })
	r.Publish(seller, harness.StateChange("cb-1", "sell-1", "acc-77", "2", "active"))
	harness.WaitFor(t, 30*time.Second, "the circuit to open", func() bool {
		_, out := r.Do(http.MethodGet, "/v1/resellers/res-w", harness.AdminToken, nil)
		return strings.Contains(string(out), `"circuit":"open"`) || strings.Contains(string(out), `"circuit":"half_open"`)
	})
	h.setRespond(func(hookReq, int) (int, http.Header) { return 200, nil })
	h.waitFor(t, "cb-1 delivered after recovery", func(rs []hookReq) bool {
		return len(rs) > 0 && rs[len(rs)-1].ID == "cb-1" && countID(rs, "cb-1") >= 4
	})
	harness.WaitFor(t, 30*time.Second, "the circuit to close", func() bool {
		_, out := r.Do(http.MethodGet, "/v1/resellers/res-w", harness.AdminToken, nil)
		return strings.Contains(string(out), `"circuit":"closed"`)
	})
}
