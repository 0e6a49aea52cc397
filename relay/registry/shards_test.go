package registry

import (
	"fmt"
	"testing"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/store"
	"github.com/rs/zerolog"
)

func reseller(rev uint64, v *View, id, stream string) relay.Reseller {
	rs := relay.Reseller{ID: id, Seller: "s1", Accounts: []string{"a1"}, Stream: stream}
	v.Apply(put(rev, keyReseller+id, rs), zerolog.Nop())
	return rs
}

// TestLayoutShards: one shard keeps the design's DELIVERY on deliver.>;
// with more, DELIVERY gives deliver.> up before another stream lists a
// reseller (JetStream refuses overlapping streams), each reseller's
// subjects are captured before it is registered, and a relay with an
// older view never takes another relay's reseller away.
func TestLayoutShards(t *testing.T) {
	js := startJetStream(t)
	ctx := testCtx(t)
	v := NewView()
	reseller(1, v, "old-1", "")
	one := NewLayout(testConfig(1), zerolog.Nop(), v, jsStreams{js})
	if err := one.ProvisionDelivery(ctx); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	if got := fmt.Sprint(subjectsOf(t, js)); got != "map[DELIVERY:[deliver.>]]" {
		t.Fatalf("one shard: %s", got)
	}
	if s := one.shardFor("anyone"); s != relay.StreamDelivery {
		t.Fatalf("one shard places on %s", s)
	}

	four := NewLayout(testConfig(4), zerolog.Nop(), v, jsStreams{js})
	if err := four.ProvisionDelivery(ctx); err != nil {
		t.Fatalf("Provision with four shards: %v", err)
	}
	if got := fmt.Sprint(subjectsOf(t, js)); got != "map[DELIVERY:["+events.DeliverFilter("old-1")+"]]" {
		t.Fatalf("four shards, one old reseller: %s", got)
	}
	var id string
	for i := 0; id == ""; i++ { // a reseller the hash puts off DELIVERY
		if c := fmt.Sprintf("new-%d", i); four.shardFor(c) != relay.StreamDelivery {
			id = c
		}
	}
	home := four.shardFor(id)
	if home != four.shardFor(id) || !relay.IsDeliveryStream(home) {
		t.Fatalf("ShardFor(%s) = %s, not stable", id, home)
	}
	if err := four.CaptureReseller(ctx, relay.Reseller{ID: id, Stream: home}); err != nil {
		t.Fatalf("CaptureReseller: %v", err)
	}
	// Another relay registers "other" on the same stream from a view that
	// lacks the new reseller (not registered yet): the stream keeps both.
	staleView := NewView()
	reseller(1, staleView, "old-1", "")
	stale := NewLayout(testConfig(4), zerolog.Nop(), staleView, jsStreams{js})
	if err := stale.CaptureReseller(ctx, relay.Reseller{ID: "other", Stream: home}); err != nil {
		t.Fatalf("CaptureReseller from a stale view: %v", err)
	}
	want := fmt.Sprintf("map[DELIVERY:[%s] %s:[%s %s]]", events.DeliverFilter("old-1"), home, events.DeliverFilter(id), events.DeliverFilter("other"))
	if got := fmt.Sprint(subjectsOf(t, js)); got != want {
		t.Fatalf("after capture and a stale heal: %s, want %s", got, want)
	}

	// A stream that lost a reseller's subjects gets them back.
	reseller(2, v, id, home)
	if err := four.streams.EnsureStream(ctx, four.streams.DeliveryConfig(home, []string{"deliver.someone-else.>"})); err != nil {
		t.Fatalf("break %s: %v", home, err)
	}
	four.HealDelivery(ctx)
	want = fmt.Sprintf("map[DELIVERY:[%s] %s:[%s %s]]", events.DeliverFilter("old-1"), home, events.DeliverFilter(id), "deliver.someone-else.>")
	if got := fmt.Sprint(subjectsOf(t, js)); got != want {
		t.Fatalf("after heal: %s, want %s", got, want)
	}
}

func TestDeliveryStreamNames(t *testing.T) {
	for k, want := range map[int]string{0: "DELIVERY", 1: "DELIVERY_01", 12: "DELIVERY_12"} {
		if got := store.DeliveryStream(k); got != want || !relay.IsDeliveryStream(got) {
			t.Fatalf("DeliveryStream(%d) = %s, want %s", k, got, want)
		}
	}
}
