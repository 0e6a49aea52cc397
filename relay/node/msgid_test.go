package node_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/node"
)

// sellerEvent is event() for another seller.
func sellerEvent(seller, id, account, item, state string) events.Event {
	e := event(id, account, item, state)
	e.Seller, e.Source = seller, "/test/"+seller
	return e
}

// TestSameIDFromTwoSellersIsTwoEvents: ids are unique per seller, so a
// second seller's event under an id the first one used is stored and
// delivered with its own id, also after a restart rebuilt the dedupe index
// from INGEST; each seller's own re-send stays a duplicate.
func TestSameIDFromTwoSellersIsTwoEvents(t *testing.T) {
	dir := t.TempDir()
	r, sell1 := openWithResA(t, dir)
	ctx := testCtx(t)
	if _, _, err := r.Registry().RegisterSeller(ctx, "sell-2"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Registry().RegisterReseller(ctx, relay.ResellerSpec{ID: "res-x", Seller: "sell-2", Accounts: []string{"acc-77"}}); err != nil {
		t.Fatal(err)
	}
	sell2 := relay.Principal{Role: relay.RoleSeller, ID: "sell-2"}
	publishOne(t, r, sell1, sellerEvent("sell-1", "1", "acc-77", "i1", "active"), relay.StatusAccepted)
	publishOne(t, r, sell2, sellerEvent("sell-2", "1", "acc-77", "i9", "suspended"), relay.StatusAccepted)
	checkOnly(t, r, "res-a", "sell-1/1/i1")
	checkOnly(t, r, "res-x", "sell-2/1/i9")
	r.Close()

	r = openRelay(t, dir)
	defer r.Close()
	publishOne(t, r, sell1, sellerEvent("sell-1", "1", "acc-77", "i1", "active"), relay.StatusDuplicate)
	publishOne(t, r, sell2, sellerEvent("sell-2", "1", "acc-77", "i9", "suspended"), relay.StatusDuplicate)
	publishOne(t, r, sell2, sellerEvent("sell-2", "2", "acc-77", "i9", "active"), relay.StatusAccepted)
	checkOnly(t, r, "res-x", "sell-2/2/i9")
}

func publishOne(t *testing.T, r *node.Node, p relay.Principal, e events.Event, want relay.ResultStatus) {
	t.Helper()
	res, err := r.Ingest().Publish(testCtx(t), p, []events.Event{e})
	if err != nil || res[0].Status != want || res[0].ID != e.ID {
		t.Fatalf("%s publishes %s: %+v, %v; want %s", p.ID, e.ID, res, err, want)
	}
}

// checkOnly pulls and acks reseller's next delivery, which must be want
// (seller/id/item), and nothing after it.
func checkOnly(t *testing.T, r *node.Node, reseller, want string) {
	t.Helper()
	got := pullN(t, r, reseller, 1)
	var e events.Event
	if err := json.Unmarshal(got[0].Event, &e); err != nil {
		t.Fatal(err)
	}
	if s := fmt.Sprintf("%s/%s/%s", e.Seller, e.ID, e.Item); s != want {
		t.Fatalf("%s got %s, want %s", reseller, s, want)
	}
	ackAll(t, r, reseller, got)
	if extra, _ := r.Inbox().Pull(testCtx(t), relay.RoleReseller, reseller, 10, 0); len(extra) != 0 {
		t.Fatalf("%s got more: %v", reseller, ids(extra))
	}
}
