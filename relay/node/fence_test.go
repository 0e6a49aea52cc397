package node_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/node"
)

// TestUncleanStopRoutesAgain loses a routed copy the way a power failure
// would (DELIVERY has it no more, the router's input was acknowledged) and
// checks that a start after an unclean stop routes it again.
func TestUncleanStopRoutesAgain(t *testing.T) {
	dir := t.TempDir()
	ctx := testCtx(t)
	r := openRelay(t, dir)
	if _, _, err := r.Registry().RegisterSeller(ctx, "sell-1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Registry().RegisterReseller(ctx, relay.ResellerSpec{ID: "res-a", Seller: "sell-1", Accounts: []string{"acc-77"}}); err != nil {
		t.Fatal(err)
	}
	seller := relay.Principal{Role: relay.RoleSeller, ID: "sell-1"}
	if _, err := r.Ingest().Publish(ctx, seller, []events.Event{event("e-lost", "acc-77", "i1", "active")}); err != nil {
		t.Fatal(err)
	}
	waitRouted(t, r)
	r.Close()

	r = openRelay(t, dir) // a clean start: nothing is routed again
	s, err := r.JetStream().Stream(ctx, relay.StreamDelivery)
	if err == nil {
		err = s.Purge(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	if err := os.WriteFile(filepath.Join(dir, "RUNNING"), nil, 0o600); err != nil {
		t.Fatal(err)
	}

	r = openRelay(t, dir)
	defer r.Close()
	got := pullN(t, r, "res-a", 1)
	var e events.Event
	if err := json.Unmarshal(got[0].Event, &e); err != nil || e.ID != "e-lost" {
		t.Fatalf("delivered %s (%v), want e-lost", got[0].Event, err)
	}
}

// waitRouted polls until the router acknowledged every envelope stored so
// far (its fence included).
func waitRouted(t *testing.T, r *node.Node) {
	t.Helper()
	ctx := testCtx(t)
	for {
		s, err := r.JetStream().Stream(ctx, relay.StreamIngest)
		if err != nil {
			t.Fatal(err)
		}
		c, err := r.JetStream().Consumer(ctx, relay.StreamIngest, "router")
		if err != nil {
			t.Fatal(err)
		}
		if c.CachedInfo().AckFloor.Stream >= s.CachedInfo().State.LastSeq {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatal("router never acknowledged its input")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestUncleanStopRepeatsNothingStored: routing the last envelopes again
// after an unclean stop adds no copy that is already stored.
func TestUncleanStopRepeatsNothingStored(t *testing.T) {
	dir := t.TempDir()
	ctx := testCtx(t)
	r := openRelay(t, dir)
	if _, _, err := r.Registry().RegisterSeller(ctx, "sell-1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Registry().RegisterReseller(ctx, relay.ResellerSpec{ID: "res-a", Seller: "sell-1", Accounts: []string{"acc-77"}}); err != nil {
		t.Fatal(err)
	}
	seller := relay.Principal{Role: relay.RoleSeller, ID: "sell-1"}
	for i := range 10 {
		if _, err := r.Ingest().Publish(ctx, seller, []events.Event{event(fmt.Sprintf("e-%d", i), "acc-77", "i1", "active")}); err != nil {
			t.Fatal(err)
		}
	}
	waitRouted(t, r)
	r.Close()
	if err := os.WriteFile(filepath.Join(dir, "RUNNING"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r = openRelay(t, dir)
	defer r.Close()
	// The router routes this one after the rewind: once it is routed,
	// the rewind is over.
	if _, err := r.Ingest().Publish(ctx, seller, []events.Event{event("e-after", "acc-77", "i1", "active")}); err != nil {
		t.Fatal(err)
	}
	waitRouted(t, r)
	for _, name := range []string{relay.StreamEvents, relay.StreamDelivery} {
		s, err := r.JetStream().Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if n := s.CachedInfo().State.Msgs; n != 11 {
			t.Errorf("%s holds %d messages after the rewind, want 11", name, n)
		}
	}
}
