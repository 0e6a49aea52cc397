package test

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/billrelay/billrelay/test/harness"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

const hubPath = "/tmf-api/serviceInventory/v4/hub"

// addHub registers a serviceInventory hub and returns the answer's status
// and body.
func addHub(t *testing.T, r *harness.Relay, token, callback string, header ...string) (int, string) {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"callback": callback})
	req, _ := http.NewRequest(http.MethodPost, r.URL+hubPath, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

type hubCreated struct {
	ID            string `json:"id"`
	Callback      string `json:"callback"`
	WebhookSecret string `json:"webhook_secret"`
}

func mustAddHub(t *testing.T, r *harness.Relay, token, callback string) hubCreated {
	t.Helper()
	status, out := addHub(t, r, token, callback)
	var h hubCreated
	if status != http.StatusCreated || json.Unmarshal([]byte(out), &h) != nil || h.ID == "" || h.Callback != callback ||
		!strings.HasPrefix(h.WebhookSecret, "whsec_") {
		t.Fatalf("hub %s: %d %s", callback, status, out)
	}
	return h
}

type deadLetter struct {
	ID, Reason string
	Event      struct{ ID string }
}

// waitDeadLetters waits until reseller has n dead letters.
func waitDeadLetters(t *testing.T, r *harness.Relay, reseller string, n int) []deadLetter {
	t.Helper()
	var list struct{ Entries []deadLetter }
	harness.WaitFor(t, 60*time.Second, reseller+"'s dead letters", func() bool {
		_, out := r.Do(http.MethodGet, "/v1/dlq?reseller="+reseller, harness.AdminToken, nil)
		_ = json.Unmarshal(out, &list)
		return len(list.Entries) >= n
	})
	return list.Entries
}

// closedPort is a 127.0.0.1 address nobody listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// TestHubCallbackPolicy: a reseller cannot point the relay at the relay's
// own network. A hub on 127.0.0.1 is refused at registration; one on a
// name that resolves to 127.0.0.1 (localhost) is refused when dialled, its
// event dead-lettered with the reason, and nothing reaches the receiver.
// Once the admin allows 127.0.0.1 for that reseller, notifications arrive,
// signed with the secret the hub registration returned.
func TestHubCallbackPolicy(t *testing.T) {
	h := newHook(t)
	r := harness.Start(t, fastRetries...)
	seller := r.RegisterSeller("sell-1")
	ta := r.RegisterReseller("res-a", "sell-1", "acc-77")

	status, out := addHub(t, r, ta, h.srv.URL+"/tmf")
	if status != http.StatusUnprocessableEntity || !strings.Contains(out, `"field":"callback"`) || !strings.Contains(out, "loopback") {
		t.Fatalf("hub on 127.0.0.1: %d %s", status, out)
	}
	_, port, _ := net.SplitHostPort(h.srv.Listener.Addr().String())
	hub := mustAddHub(t, r, ta, "http://localhost:"+port+"/tmf")

	r.Publish(seller, harness.StateChange("ssrf-1", "sell-1", "acc-77", "16643", "active"))
	dl := waitDeadLetters(t, r, "res-a", 1)
	if dl[0].Event.ID != "ssrf-1" || !strings.Contains(dl[0].Reason, "refused") || !strings.Contains(dl[0].Reason, "loopback") {
		t.Fatalf("dead letter %+v, want the address refused", dl[0])
	}
	if n := len(h.requests()); n != 0 {
		t.Fatalf("the receiver on 127.0.0.1 got %d requests", n)
	}

	status, b := r.Do(http.MethodPut, "/v1/resellers/res-a/callback-allow", harness.AdminToken, map[string]any{"cidrs": []string{"127.0.0.1"}})
	if status != http.StatusOK || !strings.Contains(string(b), `"cidrs":["127.0.0.1/32"]`) {
		t.Fatalf("allow: %d %s", status, b)
	}
	r.Publish(seller, harness.StateChange("ssrf-2", "sell-1", "acc-77", "16643", "suspended"))
	rs := h.waitFor(t, "ssrf-2 once allowed", func(rs []hookReq) bool { return len(rs) >= 1 })
	got := rs[0]
	if got.Header.Get("webhook-id") != "ssrf-2" || !strings.Contains(string(got.Body), `"eventType":"ServiceStateChangeEvent"`) {
		t.Fatalf("notification %v %s", got.Header, got.Body)
	}
	wh, _ := standardwebhooks.NewWebhook(hub.WebhookSecret)
	if err := wh.Verify(got.Body, got.Header); err != nil {
		t.Fatalf("hub notification not signed with the hub's secret: %v (%v)", err, got.Header)
	}

	status, b = r.Do(http.MethodPut, "/v1/resellers/res-a/callback-allow", harness.AdminToken, map[string]any{"cidrs": []string{"10.0.0.0/33"}})
	if status != http.StatusUnprocessableEntity || !strings.Contains(string(b), `"field":"cidrs[0]"`) {
		t.Fatalf("bad prefix: %d %s", status, b)
	}
	if status, b = r.Do(http.MethodPut, "/v1/resellers/res-a/callback-allow", ta, map[string]any{"cidrs": []string{"0.0.0.0/0"}}); status != http.StatusForbidden {
		t.Fatalf("a reseller set its own allowance: %d %s", status, b)
	}
}

// TestHubRegistrationBounds: no userinfo in a hub's callback, at most
// RELAY_MAX_HUBS hubs per reseller (429 naming the limit), and a reseller
// is audited as itself whatever X-Actor it sends.
func TestHubRegistrationBounds(t *testing.T) {
	r := harness.Start(t, "RELAY_MAX_HUBS=2")
	r.RegisterSeller("sell-1")
	ta := r.RegisterReseller("res-a", "sell-1", "acc-77")

	for _, bad := range []string{"https://hubus3r:hubpa55@billing.example/tmf", "https://hubus3r@billing.example/tmf", "gopher://billing.example/tmf"} {
		status, out := addHub(t, r, ta, bad)
		if status != http.StatusUnprocessableEntity || !strings.Contains(out, `"field":"callback"`) || strings.Contains(out, "hubpa55") || strings.Contains(out, "hubus3r") {
			t.Fatalf("hub %s: %d %s", bad, status, out)
		}
	}
	first := mustAddHub(t, r, ta, "https://billing.example/tmf/1?token=hubt0ken")
	status, out := addHub(t, r, ta, "https://billing.example/tmf/2", "X-Actor", "admin")
	if status != http.StatusCreated {
		t.Fatalf("second hub: %d %s", status, out)
	}
	status, out = addHub(t, r, ta, "https://billing.example/tmf/3")
	if status != http.StatusTooManyRequests || !strings.Contains(out, "RELAY_MAX_HUBS") || !strings.Contains(out, "is 2") {
		t.Fatalf("third hub: %d %s, want 429 naming the limit", status, out)
	}
	if status, _ := r.Do(http.MethodDelete, hubPath+"/"+first.ID, ta, nil); status != http.StatusNoContent {
		t.Fatalf("delete hub: %d", status)
	}
	mustAddHub(t, r, ta, "https://billing.example/tmf/3")

	_, b := r.Do(http.MethodGet, "/v1/audit?limit=100", harness.AdminToken, nil)
	var audit struct {
		Entries []struct{ Actor, Action string }
	}
	if err := json.Unmarshal(b, &audit); err != nil {
		t.Fatal(err)
	}
	hubs := 0
	for _, e := range audit.Entries {
		if strings.HasPrefix(e.Action, "hub.") {
			hubs++
			if e.Actor != "reseller:res-a" {
				t.Fatalf("%s audited as %q, want reseller:res-a: %s", e.Action, e.Actor, b)
			}
		}
	}
	if hubs != 4 || strings.Contains(string(b), "hubt0ken") || strings.Contains(string(b), first.WebhookSecret) {
		t.Fatalf("audit trail (want 4 hub entries, no secret): %s", b)
	}
}

// TestNoSecretInLogs: webhooks and hubs whose URLs carry user:pass@ and
// ?token= fail every way they can (refused address, closed port, refused
// registration); no secret of theirs reaches the relay's log, its dead
// letters, ops events, audit trail or status answers.
func TestNoSecretInLogs(t *testing.T) {
	r := harness.Start(t, fastRetries...)
	seller := r.RegisterSeller("sell-1")
	closed := closedPort(t)
	registerWebhook(t, r, "res-w", "http://whus3r:whpa55@127.0.0.1:"+closed+"/hook?token=wht0ken")
	th := r.RegisterReseller("res-h", "sell-1", "acc-77")
	tn := r.RegisterReseller("res-n", "sell-1", "acc-77")
	if status, b := r.Do(http.MethodPut, "/v1/resellers/res-h/callback-allow", harness.AdminToken, map[string]any{"cidrs": []string{"127.0.0.1/32"}}); status != http.StatusOK {
		t.Fatalf("allow: %d %s", status, b)
	}
	mustAddHub(t, r, th, "http://localhost:"+closed+"/tmf?token=hubt0ken&x=1")
	mustAddHub(t, r, tn, "http://localhost:"+closed+"/tmf?token=refusedt0ken")
	if status, out := addHub(t, r, tn, "http://hubus3r:hubpa55@localhost:"+closed+"/tmf"); status != http.StatusUnprocessableEntity {
		t.Fatalf("hub with userinfo: %d %s", status, out)
	}

	r.Publish(seller, harness.StateChange("leak-1", "sell-1", "acc-77", "16643", "active"))
	for _, id := range []string{"res-w", "res-h", "res-n"} {
		waitDeadLetters(t, r, id, 1)
	}
	var shown strings.Builder
	for _, path := range []string{"/v1/dlq?all=true", "/v1/ops/events", "/v1/audit?limit=100", "/v1/resellers", "/v1/resellers/res-w"} {
		_, b := r.Do(http.MethodGet, path, harness.AdminToken, nil)
		shown.Write(b)
	}
	if !strings.Contains(shown.String(), "127.0.0.1:"+closed+"/hook?token=***") {
		t.Fatalf("the answers do not show the redacted webhook URL: %s", shown.String())
	}
	for _, secret := range []string{"whus3r", "whpa55", "wht0ken", "hubt0ken", "refusedt0ken", "hubus3r", "hubpa55"} {
		if strings.Contains(r.Logs(), secret) {
			t.Errorf("the relay's log carries %q:\n%s", secret, r.Logs())
		}
		if strings.Contains(shown.String(), secret) {
			t.Errorf("an admin answer carries %q: %s", secret, shown.String())
		}
	}
}
