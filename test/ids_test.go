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
