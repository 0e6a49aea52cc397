package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/billrelay/billrelay/test/harness"
)

// TestOrderBoundIsPerReseller gives each reseller a bucket of 5 orders
// that refills at one order in 1,000 s. res-a spends its bucket and its
// next order is answered 429 with Retry-After and the bound named, and is
// never stored; res-b's orders and the seller's events keep their 202 and
// the seller reads exactly the orders answered 202. A batch larger than
// the bucket can never pass and is refused as such (422).
func TestOrderBoundIsPerReseller(t *testing.T) {
	w := startShared(t, "RELAY_ORDER_RATE=0.001", "RELAY_ORDER_BURST=5")
	orders := func(prefix string, n int) []any {
		var out []any
		for i := range n {
			out = append(out, order(fmt.Sprintf("%s-%d", prefix, i), "acc-77", fmt.Sprintf("%s-item-%d", prefix, i)))
		}
		return out
	}
	w.r.Publish(w.ta, orders("a", 5))
	status, header, body := post(t, w.r, w.ta, orders("a-over", 1))
	if status != http.StatusTooManyRequests || !strings.Contains(body, `"code":"too_many"`) || !strings.Contains(body, `"field":"[]"`) || !strings.Contains(body, "order rate") {
		t.Fatalf("res-a past its bound: %d %s", status, body)
	}
	t.Logf("429 %s", body)
	if s, err := strconv.Atoi(header.Get("Retry-After")); err != nil || s < 1 {
		t.Fatalf("429 without a usable Retry-After: %q", header.Get("Retry-After"))
	}
	if status, _, body := post(t, w.r, w.tb, orders("too-big", 6)); status != http.StatusUnprocessableEntity || !strings.Contains(body, "RELAY_ORDER_BURST") {
		t.Fatalf("a batch larger than the bucket: %d %s", status, body)
	}
	w.r.Publish(w.tb, orders("b", 5))
	w.r.Publish(w.seller, harness.StateChange("ev-1", "sell-1", "acc-77", "16643", "active"))

	got := map[string]bool{}
	harness.WaitFor(t, 30*time.Second, "the 10 orders answered 202 at the seller", func() bool {
		_, out := w.r.Do(http.MethodGet, "/v1/sellers/sell-1/events?max=100&wait=1s", w.seller, nil)
		var res struct{ Events []harness.Delivery }
		_ = json.Unmarshal(out, &res)
		for _, d := range res.Events {
			got[d.Event.ID] = true
		}
		return len(got) >= 10
	})
	if got["a-over-0"] || got["too-big-0"] || len(got) != 10 {
		t.Fatalf("the seller read %v; want a-0..4 and b-0..4 only", keys(got))
	}
	if a := w.r.PullN("res-b", w.tb, 1, 30*time.Second); a[0].Event.ID != "ev-1" {
		t.Fatalf("res-b got %v", harness.IDs(a))
	}
}

// post is Relay.Do for POST /v1/events that also returns the headers.
func post(t *testing.T, r *harness.Relay, token string, body any) (int, http.Header, string) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, r.URL+"/v1/events", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /v1/events: %v", err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(out)
}

// TestAdminWritesAreBounded: a webhook URL and each part of an override
// are held to a size, answered 422 naming the field, and nothing of the
// request is stored.
func TestAdminWritesAreBounded(t *testing.T) {
	w := startShared(t)
	long := "https://hooks.example/" + strings.Repeat("a", 2048)
	override := func(field string, size int) map[string]any {
		body := map[string]any{"seller": "sell-1", "account": "acc-77", "item": "1000012", "event": "Creation Completed",
			"params": "GateID=4;IssuedSuccessfully=1;Message=Done;OrderItemID=77;SubscrID=1000012", "actor": "alice", "reason": "INC-4711"}
		body[field] = strings.Repeat("x", size)
		return body
	}
	for name, tc := range map[string]struct {
		method, path string
		body         any
		field        string
	}{
		"webhook url":     {http.MethodPut, "/v1/resellers/res-a/webhook", map[string]any{"url": long}, "url"},
		"override actor":  {http.MethodPost, "/v1/overrides", override("actor", 257), "actor"},
		"override reason": {http.MethodPost, "/v1/overrides", override("reason", 1025), "reason"},
		"override params": {http.MethodPost, "/v1/overrides", override("params", 4097), "params"},
		"override event":  {http.MethodPost, "/v1/overrides", override("event", 16<<10), "event"},
	} {
		status, out := w.r.Do(tc.method, tc.path, harness.AdminToken, tc.body)
		if status != http.StatusUnprocessableEntity || !strings.Contains(string(out), `"field":"`+tc.field+`"`) {
			t.Fatalf("%s over its bound: %d %s", name, status, out)
		}
	}
	if got := w.r.Pull("res-a", w.ta, 10, time.Second); len(got) != 0 {
		t.Fatalf("a refused override was delivered: %v", harness.IDs(got))
	}
	if _, out := w.r.Do(http.MethodGet, "/v1/resellers/res-a", harness.AdminToken, nil); strings.Contains(string(out), "hooks.example") {
		t.Fatalf("a refused webhook was stored: %s", out)
	}
}
