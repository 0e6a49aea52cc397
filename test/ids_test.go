package test

import (
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
