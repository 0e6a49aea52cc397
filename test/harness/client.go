package harness

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Event builds a catalog event as a seller adapter would send it.
func Event(id, seller, account, item, typ, state string) map[string]any {
	e := map[string]any{
		"specversion": "1.0", "id": id, "source": "/test/" + seller, "type": typ,
		"seller": seller, "account": account, "item": item,
	}
	if state != "" {
		e["data"] = map[string]any{"state": state}
	}
	return e
}

// StateChange is a service.state_changed event.
func StateChange(id, seller, account, item, state string) map[string]any {
	return Event(id, seller, account, item, "service.state_changed", state)
}

// Delivery is one pulled event.
type Delivery struct {
	Event struct {
		ID     string          `json:"id"`
		Type   string          `json:"type"`
		Seller string          `json:"seller"`
		Item   string          `json:"item"`
		Data   json.RawMessage `json:"data"`
	} `json:"event"`
	AckID    string   `json:"ack_id"`
	Attempt  int      `json:"attempt"`
	Replay   bool     `json:"replay"`
	Redriven bool     `json:"redriven"`
	Flags    []string `json:"flags"`
	Seq      uint64   `json:"seq"`
}

// RegisterSeller registers a seller and returns its token.
func (r *Relay) RegisterSeller(id string) string {
	r.t.Helper()
	return r.mustCreate("/v1/sellers", map[string]any{"id": id})
}

// RegisterReseller registers a reseller and returns its token.
func (r *Relay) RegisterReseller(id, seller string, accounts ...string) string {
	r.t.Helper()
	return r.mustCreate("/v1/resellers", map[string]any{"id": id, "seller": seller, "accounts": accounts})
}

func (r *Relay) mustCreate(path string, body any) string {
	r.t.Helper()
	status, out := r.Do(http.MethodPost, path, AdminToken, body)
	var cred struct{ Token string }
	if status != http.StatusCreated || json.Unmarshal(out, &cred) != nil || cred.Token == "" {
		r.t.Fatalf("POST %s: %d %s", path, status, out)
	}
	return cred.Token
}

// Result is one event's ingest outcome.
type Result struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

// Publish posts events (one object or a slice) and expects 202.
func (r *Relay) Publish(token string, body any) []Result {
	r.t.Helper()
	status, out := r.Do(http.MethodPost, "/v1/events", token, body)
	if status != http.StatusAccepted {
		r.t.Fatalf("publish: %d %s", status, out)
	}
	var res struct{ Results []Result }
	if err := json.Unmarshal(out, &res); err != nil {
		r.t.Fatalf("publish answer %s: %v", out, err)
	}
	return res.Results
}

// Pull long-polls once.
func (r *Relay) Pull(reseller, token string, max int, wait time.Duration) []Delivery {
	r.t.Helper()
	status, out := r.Do(http.MethodGet, fmt.Sprintf("/v1/resellers/%s/events?max=%d&wait=%s", reseller, max, wait), token, nil)
	if status != http.StatusOK {
		r.t.Fatalf("pull %s: %d %s", reseller, status, out)
	}
	var res struct{ Events []Delivery }
	if err := json.Unmarshal(out, &res); err != nil {
		r.t.Fatalf("pull answer %s: %v", out, err)
	}
	return res.Events
}

// PullN long-polls until n events arrived, failing the test after timeout.
func (r *Relay) PullN(reseller, token string, n int, timeout time.Duration) []Delivery {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	var got []Delivery
	for len(got) < n && time.Now().Before(deadline) {
		got = append(got, r.Pull(reseller, token, n-len(got), 5*time.Second)...)
	}
	if len(got) < n {
		r.t.Fatalf("%s got %d of %d events within %v: %v", reseller, len(got), n, timeout, IDs(got))
	}
	return got
}

// AckAll acks every delivery and expects all of them applied.
func (r *Relay) AckAll(reseller, token string, ds []Delivery) {
	r.t.Helper()
	ids := make([]string, len(ds))
	for i, d := range ds {
		ids[i] = d.AckID
	}
	status, out := r.Do(http.MethodPost, "/v1/resellers/"+reseller+"/acks", token, map[string]any{"ack": ids})
	var res struct {
		Acked  int
		Errors []any
	}
	if status != http.StatusOK || json.Unmarshal(out, &res) != nil || res.Acked != len(ds) || len(res.Errors) != 0 {
		r.t.Fatalf("ack %s: %d %s", reseller, status, out)
	}
}

// IDs lists the event ids of deliveries in order.
func IDs(ds []Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Event.ID
	}
	return out
}

// Lag is the lag part of a reseller view.
type Lag struct {
	Pending     int `json:"pending"`
	AckPending  int `json:"ack_pending"`
	Redelivered int `json:"redelivered"`
}

// ResellerLag reads GET /v1/resellers/{id}.
func (r *Relay) ResellerLag(id string) Lag {
	r.t.Helper()
	status, out := r.Do(http.MethodGet, "/v1/resellers/"+id, AdminToken, nil)
	var l Lag
	if status != http.StatusOK || json.Unmarshal(out, &l) != nil {
		r.t.Fatalf("GET reseller %s: %d %s", id, status, out)
	}
	return l
}

// WaitFor polls cond every 20ms until it holds or timeout passes. It is
// the one allowed poll: for state that has no channel to wait on.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

// CLI runs "billrelay <args>" against r and returns stdout, stderr and the
// exit code.
func (r *Relay) CLI(args ...string) (string, string, int) {
	r.t.Helper()
	cmd := exec.Command(Bin("billrelay"), args...)
	cmd.Env = append(os.Environ(), "RELAY_URL="+r.URL, "RELAY_ADMIN_TOKEN="+AdminToken, "RELAY_ACTOR=oncall-test")
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			r.t.Fatalf("run billrelay %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return out.String(), errb.String(), code
}

// PullAll pulls once (max 1000, wait) and acks nothing.
func (r *Relay) PullAll(reseller, token string, wait time.Duration) []Delivery {
	r.t.Helper()
	return r.Pull(reseller, token, 1000, wait)
}
