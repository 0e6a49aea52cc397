package node

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/pull"
	"github.com/rs/zerolog"
)

// TestAckIDOfEarlierFormSettles: an ack id handed out before the upgrade
// (without its hand-out time) of an event stored several ack waits ago
// still settles, reported applied, and the event does not come back.
func TestAckIDOfEarlierFormSettles(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	r, err := Open(ctx, relay.Config{DataDir: t.TempDir(), SyncAlways: true, AckWait: 2 * time.Second}, zerolog.Nop())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer r.Close()
	if _, _, err := r.Registry().RegisterSeller(ctx, "sell-1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Registry().RegisterReseller(ctx, relay.ResellerSpec{ID: "res-a", Seller: "sell-1", Accounts: []string{"acc-77"}}); err != nil {
		t.Fatal(err)
	}
	ev := events.Event{SpecVersion: "1.0", ID: "before-upgrade", Source: "/test/sell-1", Type: events.TypeServiceStateChanged,
		Time: time.Now().UTC(), Seller: "sell-1", Account: "acc-77", Item: "i1", Data: json.RawMessage(`{"state":"active"}`)}
	if _, err := r.Ingest().Publish(ctx, relay.Principal{Role: relay.RoleSeller, ID: "sell-1"}, []events.Event{ev}); err != nil {
		t.Fatal(err)
	}
	tick := time.NewTicker(20 * time.Millisecond) // a bounded poll until the event is older than the ack wait
	defer tick.Stop()
	for st, _ := r.Admin().ResellerStatus(ctx, "res-a"); st.OldestUnacked <= 2*r.cfg.AckWait; st, _ = r.Admin().ResellerStatus(ctx, "res-a") {
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("the event never got old: %+v", st)
		}
	}
	var ds []pull.Delivery
	for len(ds) == 0 && ctx.Err() == nil {
		ds, err = r.Inbox().Pull(ctx, relay.RoleReseller, "res-a", 1, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
	}
	earlier, err := r.puller.LegacyAckID(ds[0].AckID)
	if err != nil {
		t.Fatalf("a pulled id carries no hand-out time: %v", err)
	}
	res, err := r.Inbox().Ack(ctx, relay.RoleReseller, "res-a", pull.AckRequest{Ack: []string{earlier}})
	if err != nil || res.Acked != 1 || len(res.Errors) != 0 {
		t.Fatalf("ack with an id of the earlier form: %+v, %v", res, err)
	}
	// A long poll over twice the ack wait: an ack that did not land would
	// have the event back in it.
	if again, err := r.Inbox().Pull(ctx, relay.RoleReseller, "res-a", 1, 4*time.Second); err != nil || len(again) != 0 {
		t.Fatalf("after the ack: %d deliveries, %v; want none", len(again), err)
	}
}
