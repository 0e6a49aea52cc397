package test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/billrelay/billrelay/test/harness"
)

// TestSameEventIDFromTwoSellers: event ids are unique per seller, so two
// sellers counting from 1 both reach their resellers, each event with its
// original id, also after a restart rebuilt the dedupe index; each
// seller's own re-send is still a duplicate.
func TestSameEventIDFromTwoSellers(t *testing.T) {
	r := harness.Start(t)
	s1, s2 := r.RegisterSeller("sell-1"), r.RegisterSeller("sell-2")
	ta, tx := r.RegisterReseller("res-a", "sell-1", "acc-77"), r.RegisterReseller("res-x", "sell-2", "acc-77")
	for _, c := range []struct{ token, seller, status string }{
		{s1, "sell-1", "accepted"}, {s2, "sell-2", "accepted"}, {s1, "sell-1", "duplicate"},
	} {
		if res := r.Publish(c.token, harness.StateChange("1", c.seller, "acc-77", "16643", "active")); res[0].Status != c.status || res[0].ID != "1" {
			t.Fatalf("%s publishes id 1: %+v, want %s", c.seller, res, c.status)
		}
	}
	for _, c := range []struct{ reseller, token, seller string }{{"res-a", ta, "sell-1"}, {"res-x", tx, "sell-2"}} {
		got := r.PullN(c.reseller, c.token, 1, 30*time.Second)
		if got[0].Event.ID != "1" || got[0].Event.Seller != c.seller {
			t.Fatalf("%s got %s from %s, want id 1 from %s", c.reseller, got[0].Event.ID, got[0].Event.Seller, c.seller)
		}
		r.AckAll(c.reseller, c.token, got)
	}

	r.Restart()
	if res := r.Publish(s2, harness.StateChange("1", "sell-2", "acc-77", "16643", "active")); res[0].Status != "duplicate" {
		t.Fatalf("sell-2 re-sends id 1 after a restart: %+v, want duplicate", res)
	}
	if extra := r.Pull("res-x", tx, 10, 500*time.Millisecond); len(extra) != 0 {
		t.Fatalf("res-x got %v again", strings.Join(harness.IDs(extra), ","))
	}
}

// TestTMFNotificationsWithoutEventID: a seller's order system that sends
// no eventId (nor id) moves an order acknowledged → inProgress →
// completed; the reseller gets three order events and the order ends
// completed; the last notification sent again is not delivered again.
func TestTMFNotificationsWithoutEventID(t *testing.T) {
	w := startShared(t)
	const listener = "/tmf-api/productOrderingManagement/v4/listener/productOrderStateChangeEvent"
	note := func(state string) string {
		return `{"eventType":"ProductOrderStateChangeEvent","event":{"productOrder":{"id":"PO-7","state":"` + state +
			`","billingAccount":{"id":"acc-77"}}}}`
	}
	for _, state := range []string{"acknowledged", "inProgress", "completed", "completed"} {
		if status, out := postAs(t, w.r, listener, "application/json", note(state), w.seller); status != http.StatusCreated {
			t.Fatalf("%s: %d %s", state, status, out)
		}
	}
	got := w.r.PullN("res-a", w.ta, 3, 30*time.Second)
	var states []string
	for _, d := range got {
		var data struct{ State string }
		_ = json.Unmarshal(d.Event.Data, &data)
		states = append(states, d.Event.Item+":"+data.State)
	}
	if strings.Join(states, " ") != "PO-7:acknowledged PO-7:in_progress PO-7:completed" {
		t.Fatalf("res-a got %v", states)
	}
	w.r.AckAll("res-a", w.ta, got)
	if extra := w.r.Pull("res-a", w.ta, 10, 500*time.Millisecond); len(extra) != 0 {
		t.Fatalf("extra deliveries %v", harness.IDs(extra))
	}
	status, b := w.r.Do(http.MethodGet, "/v1/items/sell-1/acc-77/PO-7", harness.AdminToken, nil)
	var view struct{ State string }
	if status != http.StatusOK || json.Unmarshal(b, &view) != nil || view.State != "completed" {
		t.Fatalf("item view: %d %s, want state completed", status, b)
	}
}

// TestOverrideAndLateGenuineEventAreOne is the on-call recipe for Odin KB
// 131996: ops publishes the "Creation Completed" CloudBlue never sent
// (billrelay publish), CloudBlue's own arrives later and is a duplicate,
// so the reseller applies one activation. The resubmit that then fails
// with "#2007 … already exists" is delivered flagged regressive with the
// code already_exists and does not replace the item's state: stopping
// the (still active) service afterwards is no regression.
func TestOverrideAndLateGenuineEventAreOne(t *testing.T) {
	w := startShared(t)
	const params = "GateID=4;IssuedSuccessfully=1;Message=provisioned by hand;OrderItemID=5561;SubscrID=1000012"
	out, errOut, code := w.r.CLI("publish", "--seller", "sell-1", "--account", "acc-77", "--item", "1000012",
		"--event", "Creation Completed", "--params", params, "--actor", "oncall", "--reason", "INC-4711")
	if code != 0 || !strings.Contains(out, "published") {
		t.Fatalf("publish: %d %s %s", code, out, errOut)
	}
	genuine := `{"event":"Creation Completed","account":"acc-77","time":"2026-11-18T09:00:00Z",
		"params":"GateID=2;IssuedSuccessfully=1;Message=Done;OrderItemID=5561;SubscrID=1000012"}`
	if status, out := postAs(t, w.r, "/adapters/cloudblue/events", "application/json", genuine, w.seller); status != http.StatusAccepted || !strings.Contains(out, `"duplicate"`) {
		t.Fatalf("late genuine Creation Completed: %d %s, want duplicate", status, out)
	}
	got := w.r.PullN("res-a", w.ta, 1, 30*time.Second)
	if got[0].Event.Type != "ops.override" || got[0].Event.Item != "1000012" {
		t.Fatalf("res-a got %s %s, want the override", got[0].Event.Type, got[0].Event.Item)
	}
	w.r.AckAll("res-a", w.ta, got)
	if extra := w.r.Pull("res-a", w.ta, 10, 500*time.Millisecond); len(extra) != 0 {
		t.Fatalf("a second activation reached res-a: %v", harness.IDs(extra))
	}

	resubmit := `{"event":"Creation Completed","account":"acc-77",
		"params":"GateID=4;IssuedSuccessfully=0;Message=error #2007 module_id #ResourceManagement, Subscription #1000012 already exists;OrderItemID=5561;SubscrID=1000012"}`
	stop := `{"event":"Stop Service","account":"acc-77","params":"SubscrID=1000012"}`
	for _, body := range []string{resubmit, stop} {
		if status, out := postAs(t, w.r, "/adapters/cloudblue/events", "application/json", body, w.seller); status != http.StatusAccepted || !strings.Contains(out, `"accepted"`) {
			t.Fatalf("%s: %d %s", body, status, out)
		}
	}
	got = w.r.PullN("res-a", w.ta, 2, 30*time.Second)
	var failed struct{ Error struct{ Code string } }
	_ = json.Unmarshal(got[0].Event.Data, &failed)
	if got[0].Event.Type != "provisioning.failed" || strings.Join(got[0].Flags, ",") != "regressive" || failed.Error.Code != "already_exists" {
		t.Fatalf("resubmit failure: %s flags %v data %s, want regressive with already_exists", got[0].Event.Type, got[0].Flags, got[0].Event.Data)
	}
	if got[1].Event.Type != "service.state_changed" || len(got[1].Flags) != 0 {
		t.Fatalf("stop after the flagged failure: %s flags %v, want no flags (the item is still active)", got[1].Event.Type, got[1].Flags)
	}
}
