package ops

import (
	"errors"
	"slices"
	"testing"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
)

// TestReconcileFindsAndFixesDrift: of res-a's items, one it applied in
// the seller's state is in sync; one applied in an older state, one
// rejected and one never settled have drifted; item-2 goes to res-b and is
// not checked. With fix, each drifted item gets one snapshot of the
// seller's state, once however often the fix runs.
func TestReconcileFindsAndFixesDrift(t *testing.T) {
	d := newDesk(t)
	ctx := testContext(t)
	for _, it := range []string{"item-1", "item-3", "item-4", "item-5"} {
		d.owners.to[key(it)] = []string{"res-a"}
	}
	d.owners.to[key("item-2")] = []string{"res-b"}
	d.storeEvent(t, key("item-1"), "e1", events.TypeServiceStateChanged, events.ServiceActive)
	d.storeEvent(t, key("item-2"), "e2", events.TypeServiceStateChanged, events.ServiceActive)
	d.storeEvent(t, key("item-3"), "e3a", events.TypeServiceStateChanged, events.ServiceProvisioning)
	seq3 := d.storeEvent(t, key("item-3"), "e3b", events.TypeServiceStateChanged, events.ServiceActive)
	d.storeEvent(t, key("item-4"), "e4", events.TypeServiceStateChanged, events.ServiceSuspended)
	d.storeEvent(t, key("item-5"), "e5", events.TypeServiceStateChanged, events.ServiceTerminated)
	d.storeReceipt(t, "res-a", key("item-1"), "e1", events.ServiceActive, relay.ActionApplied)
	d.storeReceipt(t, "res-a", key("item-3"), "e3a", events.ServiceProvisioning, relay.ActionApplied)
	d.storeReceipt(t, "res-a", key("item-4"), "e4", "", relay.ActionRejected)

	res, err := d.Reconcile(ctx, "res-a", false, nil)
	if err != nil || res.Checked != 4 || res.Fixed != 0 || len(d.delivered(t, "res-a")) != 0 {
		t.Fatalf("Reconcile = %+v %v", res, err)
	}
	byItem := map[string]Drift{}
	for _, dr := range res.Items {
		byItem[dr.Item] = dr
	}
	want3 := Drift{Seller: "sell-1", Account: "acc-1", Item: "item-3", SellerState: events.ServiceActive, SellerEventID: "e3b", SellerSeq: seq3,
		AppliedState: events.ServiceProvisioning, AppliedEventID: "e3a", Receipt: relay.ActionApplied}
	if len(byItem) != 3 || byItem["item-3"] != want3 || byItem["item-4"].Receipt != relay.ActionRejected || byItem["item-5"].Receipt != "" {
		t.Fatalf("drift %+v", res.Items)
	}

	for range 2 {
		res, err = d.Reconcile(ctx, "res-a", true, nil)
		if err != nil || res.Fixed != 3 {
			t.Fatalf("Reconcile with fix = %+v %v", res, err)
		}
	}
	snaps := d.delivered(t, "res-a")
	var states []string
	for _, m := range snaps {
		if m.Header.Get(relay.HeaderType) != events.TypeReconciliationSnapshot {
			t.Fatalf("snapshot of type %q", m.Header.Get(relay.HeaderType))
		}
		states = append(states, m.Header.Get(relay.HeaderState))
	}
	slices.Sort(states)
	if want := []string{events.ServiceActive, events.ServiceSuspended, events.ServiceTerminated}; !slices.Equal(states, want) || d.fences != 2 {
		t.Fatalf("snapshots in states %v, want %v once each; %d fences", states, want, d.fences)
	}
	if got := d.auditActions(t); !slices.Equal(got, []string{"reconcile.fix res-a by relay", "reconcile.fix res-a by relay"}) {
		t.Fatalf("audit %q", got)
	}
	if _, err := d.Reconcile(ctx, "res-x", false, nil); !errors.Is(err, events.ErrNotFound) {
		t.Fatalf("unknown reseller: %v", err)
	}
}
