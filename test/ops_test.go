package test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/billrelay/billrelay/test/harness"
)

func order(id, account, item string) map[string]any {
	return harness.Event(id, "sell-1", account, item, "order.placed", "")
}

// TestOrdersGoUpAndMakeOwners: a reseller's order reaches the seller's own
// consumer and makes the reseller the item's owner; the seller's events
// about that item then reach the owner only.
func TestOrdersGoUpAndMakeOwners(t *testing.T) {
	w := startShared(t)
	if res := w.r.Publish(w.ta, order("ord-1", "acc-77", "new-1")); res[0].Status != "accepted" {
		t.Fatalf("order: %v", res)
	}
	for name, tc := range map[string]struct {
		token string
		body  any
		field string
	}{
		"state change":      {w.ta, harness.StateChange("x", "sell-1", "acc-77", "i", "active"), "[0].type"},
		"another's account": {w.ta, order("x2", "acc-99", "i"), "[0].account"},
		"item another owns": {w.tb, order("x3", "acc-77", "new-1"), "[0].item"},
	} {
		status, out := w.r.Do(http.MethodPost, "/v1/events", tc.token, tc.body)
		if status != http.StatusForbidden || !strings.Contains(string(out), tc.field) {
			t.Fatalf("%s: %d %s", name, status, out)
		}
	}
	status, out := w.r.Do(http.MethodGet, "/v1/sellers/sell-1/events?wait=5s", w.seller, nil)
	var got struct{ Events []harness.Delivery }
	if status != 200 || json.Unmarshal(out, &got) != nil || len(got.Events) != 1 || got.Events[0].Event.ID != "ord-1" {
		t.Fatalf("seller pull: %d %s", status, out)
	}
	status, out = w.r.Do(http.MethodPost, "/v1/sellers/sell-1/acks", w.seller, map[string]any{"ack": []string{got.Events[0].AckID}})
	if status != 200 || !strings.Contains(string(out), `"acked":1`) {
		t.Fatalf("seller ack: %d %s", status, out)
	}
	if status, _ := w.r.Do(http.MethodGet, "/v1/sellers/sell-1/events", w.ta, nil); status != http.StatusForbidden {
		t.Fatalf("a reseller read the seller's orders: %d", status)
	}
	w.r.Publish(w.seller, []any{
		harness.StateChange("own-1", "sell-1", "acc-77", "new-1", "active"),
		harness.StateChange("shared-1", "sell-1", "acc-77", "other", "active"),
	})
	if a := w.r.PullN("res-a", w.ta, 2, 30*time.Second); fmt.Sprint(sorted(harness.IDs(a))) != "[own-1 shared-1]" {
		t.Fatalf("owner got %v", harness.IDs(a))
	}
	b := w.r.PullN("res-b", w.tb, 1, 30*time.Second)
	if extra := w.r.Pull("res-b", w.tb, 10, time.Second); len(extra) != 0 || b[0].Event.ID != "shared-1" {
		t.Fatalf("res-b got %v %v; the owned item must reach its owner only", harness.IDs(b), harness.IDs(extra))
	}
}

func stateAt(id, item, state string, at time.Time) map[string]any {
	e := harness.StateChange(id, "sell-1", "acc-77", item, state)
	e["time"] = at.UTC().Format(time.RFC3339)
	return e
}

// TestTransitionGuardFlagsStaleAndRegressive: a stale event (older than
// what the seller reported) and a regressive one (active after
// terminated) are delivered, flagged and counted; nothing is dropped.
func TestTransitionGuardFlagsStaleAndRegressive(t *testing.T) {
	w := startShared(t)
	t0 := time.Now().Add(-time.Hour)
	w.r.Publish(w.seller, []any{
		stateAt("g-1", "16643", "active", t0.Add(5*time.Minute)),
		stateAt("g-2", "16643", "provisioning", t0.Add(4*time.Minute)),
		stateAt("g-3", "16643", "terminated", t0.Add(6*time.Minute)),
		stateAt("g-4", "16643", "active", t0.Add(7*time.Minute)),
	})
	got := w.r.PullN("res-a", w.ta, 4, 30*time.Second)
	flags := map[string]string{}
	for _, d := range got {
		flags[d.Event.ID] = strings.Join(d.Flags, ",")
	}
	if flags["g-1"] != "" || flags["g-2"] != "stale" || flags["g-3"] != "" || flags["g-4"] != "regressive" {
		t.Fatalf("flags %v", flags)
	}
	_, metrics := w.r.Do(http.MethodGet, "/metrics", "", nil)
	for _, want := range []string{`billrelay_transitions_flagged_total{flag="stale"} 1`, `billrelay_transitions_flagged_total{flag="regressive"} 1`} {
		if !strings.Contains(string(metrics), want) {
			t.Fatalf("metrics lack %q", want)
		}
	}
	_, item := w.r.Do(http.MethodGet, "/v1/items/sell-1/acc-77/16643", harness.AdminToken, nil)
	if !strings.Contains(string(item), `"event_id":"g-4"`) {
		t.Fatalf("item view %s", item)
	}
}

// TestReplayAndBackfill: a replay redelivers, marked, without moving the
// reseller's live consumer or touching another reseller; a dry run only
// counts; a reseller registered later is backfilled from its accounts.
func TestReplayAndBackfill(t *testing.T) {
	w := startShared(t)
	w.r.Publish(w.seller, []any{
		harness.StateChange("r-1", "sell-1", "acc-77", "1", "active"),
		harness.Event("r-2", "sell-1", "acc-77", "2", "provisioning.completed", "active"),
		harness.StateChange("r-3", "sell-1", "acc-77", "3", "suspended"),
	})
	w.r.AckAll("res-a", w.ta, w.r.PullN("res-a", w.ta, 3, 30*time.Second))
	before := w.r.ResellerLag("res-b")
	status, out := w.r.Do(http.MethodPost, "/v1/resellers/res-a/replay", harness.AdminToken, map[string]any{"types": []string{"service.state_changed"}, "dry_run": true})
	if status != 200 || !strings.Contains(string(out), `"matched":2,"replayed":0`) {
		t.Fatalf("dry run: %d %s", status, out)
	}
	if more := w.r.Pull("res-a", w.ta, 10, 0); len(more) != 0 {
		t.Fatalf("a dry run delivered %v", harness.IDs(more))
	}
	status, out = w.r.Do(http.MethodPost, "/v1/resellers/res-a/replay", harness.AdminToken, map[string]any{"items": []string{"1", "3"}})
	if status != 200 || !strings.Contains(string(out), `"matched":2,"replayed":2`) {
		t.Fatalf("replay: %d %s", status, out)
	}
	again := w.r.PullN("res-a", w.ta, 2, 30*time.Second)
	if fmt.Sprint(harness.IDs(again)) != "[r-1 r-3]" || !again[0].Replay || !again[1].Replay {
		t.Fatalf("replayed %+v", again)
	}
	if after := w.r.ResellerLag("res-b"); after != before {
		t.Fatalf("res-b changed by res-a's replay: %+v → %+v", before, after)
	}
	tc := w.r.RegisterReseller("res-late", "sell-1", "acc-77")
	if got := w.r.Pull("res-late", tc, 10, 200*time.Millisecond); len(got) != 0 {
		t.Fatalf("a new reseller got history without a backfill: %v", harness.IDs(got))
	}
	if status, out := w.r.Do(http.MethodPost, "/v1/resellers/res-late/replay", harness.AdminToken, nil); status != 200 || !strings.Contains(string(out), `"replayed":3`) {
		t.Fatalf("backfill: %d %s", status, out)
	}
	if got := w.r.PullN("res-late", tc, 3, 30*time.Second); len(got) != 3 {
		t.Fatalf("backfill delivered %v", harness.IDs(got))
	}
}

// TestOverrideCreationCompletedWithAudit: on-call injects CloudBlue's
// "Creation Completed" for an order stuck in Provisioning Failed; it
// becomes an ops.override that only the item's owner gets, and the audit
// trail says who, when, why and what.
func TestOverrideCreationCompletedWithAudit(t *testing.T) {
	w := startShared(t)
	w.r.Publish(w.ta, order("ord-9", "acc-77", "1000012"))
	body := map[string]any{"seller": "sell-1", "account": "acc-77", "item": "1000012", "event": "Creation Completed",
		"params": "GateID=4;IssuedSuccessfully=1;Message=Done by hand;OrderItemID=77;SubscrID=1000012", "actor": "alice", "reason": "INC-4711: PF after provisioning finished"}
	status, out := w.r.Do(http.MethodPost, "/v1/overrides", harness.AdminToken, body)
	var res struct{ ID string }
	if status != http.StatusAccepted || json.Unmarshal(out, &res) != nil || res.ID == "" {
		t.Fatalf("override: %d %s", status, out)
	}
	got := w.r.PullN("res-a", w.ta, 1, 30*time.Second)
	var data map[string]any
	_ = json.Unmarshal(got[0].Event.Data, &data)
	if got[0].Event.ID != res.ID || got[0].Event.Type != "ops.override" || data["applies"] != "provisioning.completed" || data["state"] != "active" || data["actor"] != "alice" {
		t.Fatalf("override delivered as %+v %v", got[0].Event, data)
	}
	if other := w.r.Pull("res-b", w.tb, 10, 500*time.Millisecond); len(other) != 0 {
		t.Fatalf("the override reached a reseller that does not own the item: %v", harness.IDs(other))
	}
	_, audit := w.r.Do(http.MethodGet, "/v1/audit", harness.AdminToken, nil)
	var entries struct{ Entries []map[string]any }
	_ = json.Unmarshal(audit, &entries)
	i := slices.IndexFunc(entries.Entries, func(e map[string]any) bool { return e["action"] == "override" })
	if i < 0 || entries.Entries[i]["actor"] != "alice" || entries.Entries[i]["event_id"] != res.ID || !strings.Contains(fmt.Sprint(entries.Entries[i]["reason"]), "INC-4711") || entries.Entries[i]["time"] == nil {
		t.Fatalf("audit %s", audit)
	}
	delete(body, "reason")
	if status, out := w.r.Do(http.MethodPost, "/v1/overrides", harness.AdminToken, body); status != 422 || !strings.Contains(string(out), `"field":"reason"`) {
		t.Fatalf("override without reason: %d %s", status, out)
	}
}

// TestReconcileFindsAndFixesDrift: an item whose latest state a reseller
// never applied is listed; --fix sends it a snapshot; once applied, the
// item is in sync.
func TestReconcileFindsAndFixesDrift(t *testing.T) {
	w := startShared(t)
	w.r.Publish(w.seller, []any{harness.StateChange("c-1", "sell-1", "acc-77", "16643", "provisioning"), harness.StateChange("c-2", "sell-1", "acc-77", "16644", "active")})
	w.r.AckAll("res-a", w.ta, w.r.PullN("res-a", w.ta, 2, 30*time.Second))
	w.r.Publish(w.seller, harness.StateChange("c-3", "sell-1", "acc-77", "16643", "active"))
	lost := w.r.PullN("res-a", w.ta, 1, 30*time.Second) // pulled, never applied: "in progress" forever
	_ = lost
	status, out := w.r.Do(http.MethodPost, "/v1/resellers/res-a/reconcile", harness.AdminToken, map[string]bool{"fix": true})
	var res struct {
		Checked, Fixed int
		Items          []map[string]any
	}
	if status != 200 || json.Unmarshal(out, &res) != nil || res.Checked != 2 || len(res.Items) != 1 || res.Items[0]["item"] != "16643" || res.Items[0]["seller_state"] != "active" || res.Fixed != 1 {
		t.Fatalf("reconcile: %d %s", status, out)
	}
	snaps := w.r.PullN("res-a", w.ta, 1, 30*time.Second)
	if snaps[0].Event.Type != "reconciliation.snapshot" || !strings.Contains(string(snaps[0].Event.Data), `"state":"active"`) {
		t.Fatalf("snapshot %+v", snaps[0].Event)
	}
	w.r.AckAll("res-a", w.ta, snaps)
	_, out = w.r.Do(http.MethodPost, "/v1/resellers/res-a/reconcile", harness.AdminToken, nil)
	if !strings.Contains(string(out), `"items":[]`) {
		t.Fatalf("after applying the snapshot: %s", out)
	}
}

// TestMetricsMoveAndAccessLog scrapes /metrics before and after traffic.
func TestMetricsMoveAndAccessLog(t *testing.T) {
	w := startShared(t)
	before := scrape(t, w.r)
	w.r.Publish(w.seller, []any{harness.StateChange("m-1", "sell-1", "acc-77", "1", "active"), harness.StateChange("m-2", "sell-1", "acc-77", "2", "active")})
	w.r.Publish(w.seller, harness.StateChange("m-1", "sell-1", "acc-77", "1", "active"))
	w.r.Do(http.MethodPost, "/v1/events", w.seller, `{"id":`)
	w.r.AckAll("res-a", w.ta, w.r.PullN("res-a", w.ta, 2, 30*time.Second))
	after := scrape(t, w.r)
	for name, want := range map[string]float64{
		"billrelay_ingest_accepted_total":                         2,
		"billrelay_ingest_duplicate_total":                        1,
		`billrelay_ingest_rejected_total{reason="malformed"}`:     1,
		`billrelay_acked_total{consumer="res-a",mode="pull"}`:     2,
		`billrelay_delivered_total{consumer="res-a",mode="pull"}`: 2,
		`billrelay_delivery_latency_seconds_count{mode="pull"}`:   2,
	} {
		if got := after[name] - before[name]; got != want {
			t.Errorf("%s moved by %v, want %v", name, got, want)
		}
	}
	harness.WaitFor(t, 10*time.Second, "the pending gauge of res-b (read at scrape time)", func() bool {
		return scrape(t, w.r)[`billrelay_pending{consumer="res-b",role="reseller"}`] == 2
	})
	if !regexp.MustCompile(`"reseller_id":"res-a".*"status":200.*"duration"`).MatchString(w.r.Logs()) ||
		!regexp.MustCompile(`"event_id":"m-1".*"status":202`).MatchString(w.r.Logs()) {
		t.Fatalf("access log lacks reseller_id/event_id/status/duration")
	}
}

func scrape(t *testing.T, r *harness.Relay) map[string]float64 {
	t.Helper()
	status, out := r.Do(http.MethodGet, "/metrics", "", nil)
	if status != 200 {
		t.Fatalf("metrics: %d", status)
	}
	m := map[string]float64{}
	for _, line := range strings.Split(string(out), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndex(line, " ")
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			m[line[:i]] = v
		}
	}
	return m
}

// TestCLI runs the ops commands as real processes against a real relay.
func TestCLI(t *testing.T) {
	w := startShared(t)
	w.r.Publish(w.seller, harness.StateChange("cli-1", "sell-1", "acc-77", "1", "active"))
	harness.WaitFor(t, 30*time.Second, "routing", func() bool { return w.r.ResellerLag("res-b").Pending == 1 })

	out, _, code := w.r.CLI("status", "--json")
	var rows []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &rows) != nil || len(rows) != 3 {
		t.Fatalf("status --json: %d %s", code, out)
	}
	for _, k := range []string{"id", "pending", "ack_pending", "redelivered", "dlq", "paused"} {
		if _, ok := rows[0][k]; !ok {
			t.Fatalf("status --json lacks %q: %v", k, rows[0])
		}
	}
	if out, _, code = w.r.CLI("status"); code != 0 || !strings.Contains(out, "RESELLER") || !strings.Contains(out, "res-b") {
		t.Fatalf("status: %d %s", code, out)
	}
	if _, _, code = w.r.CLI("pause", "res-b", "--reason", "maintenance"); code != 0 {
		t.Fatalf("pause exit %d", code)
	}
	if out, _, _ = w.r.CLI("resellers", "show", "res-b"); !strings.Contains(out, `"paused": true`) {
		t.Fatalf("show after pause: %s", out)
	}
	if _, _, code = w.r.CLI("resume", "res-b"); code != 0 {
		t.Fatalf("resume exit %d", code)
	}
	if out, _, code = w.r.CLI("replay", "--reseller", "res-a", "--dry-run", "--json"); code != 0 || !strings.Contains(out, `"matched": 1`) {
		t.Fatalf("replay: %d %s", code, out)
	}
	if out, _, code = w.r.CLI("publish", "--seller", "sell-1", "--account", "acc-77", "--item", "1", "--event", "Stop Service", "--actor", "bob", "--reason", "INC-1"); code != 0 || !strings.Contains(out, "published") {
		t.Fatalf("publish: %d %s", code, out)
	}
	if out, _, code = w.r.CLI("reconcile", "--reseller", "res-a", "--json"); code != 0 || !strings.Contains(out, `"Checked"`) && !strings.Contains(out, `"checked"`) {
		t.Fatalf("reconcile: %d %s", code, out)
	}
	if out, _, code = w.r.CLI("dlq", "list", "--json"); code != 0 {
		t.Fatalf("dlq list: %d %s", code, out)
	}
	_, errOut, code := w.r.CLI("resellers", "show", "nope")
	if code != 1 || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || !strings.Contains(errOut, "404") {
		t.Fatalf("error for an unknown reseller: %d %q", code, errOut)
	}
	if _, _, code = w.r.CLI("replay", "--no-such-flag"); code != 2 {
		t.Fatalf("bad flag exit %d, want 2", code)
	}
	_, audit := w.r.Do(http.MethodGet, "/v1/audit", harness.AdminToken, nil)
	if !strings.Contains(string(audit), `"actor":"oncall-test"`) || !strings.Contains(string(audit), `"action":"pause"`) {
		t.Fatalf("audit does not name the CLI's actor: %s", audit)
	}
}

// TestSellerWebhookGetsOrders: a seller with a webhook has its resellers'
// orders pushed to it.
func TestSellerWebhookGetsOrders(t *testing.T) {
	h := newHook(t)
	w := startShared(t)
	status, out := w.r.Do(http.MethodPut, "/v1/sellers/sell-1/webhook", harness.AdminToken, map[string]string{"url": h.srv.URL})
	if status != 200 || !strings.Contains(string(out), "whsec_") {
		t.Fatalf("seller webhook: %d %s", status, out)
	}
	w.r.Publish(w.tb, order("ord-w", "acc-77", "item-w"))
	rs := h.waitFor(t, "the order at the seller's webhook", func(rs []hookReq) bool { return countID(rs, "ord-w") >= 1 })
	if rs[0].Header.Get("webhook-id") != "ord-w" {
		t.Fatalf("webhook-id %q", rs[0].Header.Get("webhook-id"))
	}
	if status, _ := w.r.Do(http.MethodGet, "/v1/sellers/sell-1/events", w.seller, nil); status != http.StatusConflict {
		t.Fatalf("pulling orders pushed to a webhook: %d, want 409", status)
	}
}
