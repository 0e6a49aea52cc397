package node_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/node"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

func openSharded(t *testing.T, dir string, shards int) *node.Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := node.Open(ctx, relay.Config{DataDir: dir, SyncAlways: true, AckWait: 5 * time.Second, DeliveryShards: shards}, zerolog.Nop())
	if err != nil {
		t.Fatalf("Open with %d shards: %v", shards, err)
	}
	return r
}

// deliveryStreams maps every delivery stream to its subjects.
func deliveryStreams(t *testing.T, r *node.Node) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	names := r.JetStream().StreamNames(testCtx(t))
	for name := range names.Name() {
		if !relay.IsDeliveryStream(name) {
			continue
		}
		st, err := r.JetStream().Stream(testCtx(t), name)
		if err != nil {
			t.Fatalf("stream %s: %v", name, err)
		}
		out[name] = st.CachedInfo().Config.Subjects
	}
	return out
}

// registerOn registers resellers on acc-1 and returns the streams they
// were placed on.
func registerOn(t *testing.T, r *node.Node, ids ...string) map[string]string {
	t.Helper()
	placed := map[string]string{}
	for _, id := range ids {
		rs, _, err := r.Registry().RegisterReseller(testCtx(t), relay.ResellerSpec{ID: id, Seller: "sell-1", Accounts: []string{"acc-1"}})
		if err != nil {
			t.Fatalf("RegisterReseller %s: %v", id, err)
		}
		placed[id] = rs.DeliveryStream()
	}
	return placed
}

// everyoneGets publishes one event on acc-1 and checks that each reseller
// pulls exactly it, and acks it.
func everyoneGets(t *testing.T, r *node.Node, id string, resellers []string) {
	t.Helper()
	seller := relay.Principal{Role: relay.RoleSeller, ID: "sell-1"}
	if _, err := r.Ingest().Publish(testCtx(t), seller, []events.Event{event(id, "acc-1", "i-"+id, "active")}); err != nil {
		t.Fatalf("Publish %s: %v", id, err)
	}
	for _, rs := range resellers {
		got := pullN(t, r, rs, 1)
		if fmt.Sprint(ids(got)) != "["+id+"]" {
			t.Fatalf("%s got %v, want [%s]", rs, ids(got), id)
		}
		ackAll(t, r, rs, got)
		waitSettled(t, r, rs)
	}
}

// waitSettled polls a reseller's lag until nothing is pending (the server
// applies acks after it received them).
func waitSettled(t *testing.T, r *node.Node, reseller string) {
	t.Helper()
	ctx := testCtx(t)
	for {
		lag, err := r.Admin().ResellerLag(ctx, reseller)
		if err != nil {
			t.Fatalf("ResellerLag %s: %v", reseller, err)
		}
		if lag.Pending == 0 && lag.AckPending == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s lag = %+v; want nothing pending", reseller, lag)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// checkDisjoint checks that every reseller's subjects are captured by its
// own stream and by no other.
func checkDisjoint(t *testing.T, streams map[string][]string, placed map[string]string) {
	t.Helper()
	for id, home := range placed {
		for name, subjects := range streams {
			has := slices.Contains(subjects, events.DeliverFilter(id)) || slices.Contains(subjects, events.DeliverPrefix+".>")
			if has != (name == home) {
				t.Fatalf("stream %s subjects %v: reseller %s lives on %s", name, subjects, id, home)
			}
		}
	}
}

// TestDeliveryShards: one shard keeps the design's DELIVERY deliver.>;
// raising the shards on a store with resellers keeps them where they are
// (their consumers and copies) and spreads new ones; lowering it again
// moves nobody. Every reseller gets every event of its account throughout.
func TestDeliveryShards(t *testing.T) {
	dir := t.TempDir()
	r := openSharded(t, dir, 1)
	if _, _, err := r.Registry().RegisterSeller(testCtx(t), "sell-1"); err != nil {
		t.Fatalf("RegisterSeller: %v", err)
	}
	placed := registerOn(t, r, "res-a", "res-b")
	if got := deliveryStreams(t, r); len(got) != 1 || fmt.Sprint(got[relay.StreamDelivery]) != "[deliver.>]" {
		t.Fatalf("one shard: delivery streams = %v, want DELIVERY on deliver.>", got)
	}
	everyoneGets(t, r, "e1", []string{"res-a", "res-b"})
	r.Close()

	r = openSharded(t, dir, 4)
	more := registerOn(t, r, "res-00", "res-01", "res-02", "res-03", "res-04", "res-05", "res-06", "res-07")
	homes := map[string]bool{}
	for id, s := range more {
		placed[id] = s
		homes[s] = true
	}
	if placed["res-a"] != relay.StreamDelivery || len(homes) < 2 {
		t.Fatalf("four shards: placed %v; want the old resellers kept on DELIVERY and the new ones spread", placed)
	}
	checkDisjoint(t, deliveryStreams(t, r), placed)
	everyoneGets(t, r, "e2", slices.Sorted(func(yield func(string) bool) {
		for id := range placed {
			if !yield(id) {
				return
			}
		}
	}))
	r.Close()

	r = openSharded(t, dir, 1)
	defer r.Close()
	placed["res-z"] = registerOn(t, r, "res-z")["res-z"]
	if placed["res-z"] != relay.StreamDelivery {
		t.Fatalf("back to one shard: res-z placed on %s, want DELIVERY", placed["res-z"])
	}
	checkDisjoint(t, deliveryStreams(t, r), placed)
	for id, s := range placed {
		if rs, _ := r.Registry().Reseller(id); rs.DeliveryStream() != s {
			t.Fatalf("%s moved from %s to %s", id, s, rs.DeliveryStream())
		}
	}
	everyoneGets(t, r, "e3", []string{"res-a", "res-03", "res-07", "res-z"})
}

// TestShardedCopiesAcrossStreams routes one event to resellers
// on several streams without the async fast path (as on a cluster), where
// copies go in atomic batches, which may not span streams.
func TestShardedCopiesAcrossStreams(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := node.Open(ctx, relay.Config{DataDir: t.TempDir(), SyncInterval: time.Minute, AckWait: 5 * time.Second, DeliveryShards: 8}, zerolog.Nop())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer r.Close()
	if _, _, err := r.Registry().RegisterSeller(testCtx(t), "sell-1"); err != nil {
		t.Fatalf("RegisterSeller: %v", err)
	}
	var all []string
	for i := range 12 {
		all = append(all, fmt.Sprintf("res-%02d", i))
	}
	placed := registerOn(t, r, all...)
	st, err := r.JetStream().Stream(ctx, placed["res-00"])
	if err != nil || st.CachedInfo().Config.PersistMode == jetstream.AsyncPersistMode || !st.CachedInfo().Config.AllowAtomicPublish {
		t.Fatalf("delivery stream without the fence should take atomic batches: %+v, %v", st.CachedInfo().Config, err)
	}
	everyoneGets(t, r, "x1", all)
}
