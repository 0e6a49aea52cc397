package registry

import (
	"context"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/store"
)

// Delivery shards. JetStream finds a filtered consumer's next message by
// scanning its stream's blocks, so with every reseller on one stream each
// consumer reads past every other reseller's copies: at 1,000 resellers
// bare JetStream drains ~4k copies/s where 10 resellers drain ~97k/s
// (bench scale). Spreading resellers over several streams makes each
// consumer scan only its own stream. The subjects stay those of the
// design (deliver.<reseller>.…); only which stream stores them changes.

// shardFor places a new reseller by a hash of its id, so that relays on one
// cluster agree without asking each other.
func (r *Layout) shardFor(id string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(id))
	return store.DeliveryStream(int(h.Sum32() % uint32(r.cfg.DeliveryShards)))
}

// DeliveryLayout maps each delivery stream to the subjects it captures:
// deliver.> on DELIVERY while there is one shard and every reseller lives
// there (the design's layout), otherwise each stream lists the filters of
// its own resellers (streams may not overlap).
func (r *Layout) DeliveryLayout(extra ...relay.Reseller) map[string][]string {
	all := append(r.reg.AllResellers(), extra...)
	spread := r.cfg.DeliveryShards > 1
	for _, rs := range all {
		spread = spread || rs.DeliveryStream() != relay.StreamDelivery
	}
	if !spread {
		return map[string][]string{relay.StreamDelivery: {events.DeliverPrefix + ".>"}}
	}
	out := map[string][]string{relay.StreamDelivery: nil}
	for _, rs := range all {
		s := rs.DeliveryStream()
		out[s] = append(out[s], events.DeliverFilter(rs.ID))
	}
	return out
}

// ProvisionDelivery creates or updates every delivery stream the registry
// needs. It runs at start, after the registry is loaded.
func (r *Layout) ProvisionDelivery(ctx context.Context) error {
	layout := r.DeliveryLayout()
	if err := r.applyLayout(ctx, layout, slices.Sorted(maps.Keys(layout)), true); err != nil {
		return err
	}
	r.warnCrowded()
	return nil
}

// crowdedStream is where the scan cost of filtered consumers begins to
// show (bench scale): more resellers than this on one stream get a
// warning.
const crowdedStream = 200

// warnCrowded tells the operator about a delivery stream that holds more
// than crowdedStream resellers.
func (r *Layout) warnCrowded() {
	count := map[string]int{}
	for _, rs := range r.reg.AllResellers() {
		count[rs.DeliveryStream()]++
	}
	for name, n := range count {
		if n > crowdedStream {
			r.log.Warn().Str("stream", name).Int("resellers", n).Int("delivery_shards", r.cfg.DeliveryShards).
				Msg("many resellers share one delivery stream; delivery slows as each consumer scans the others' copies: raise RELAY_DELIVERY_SHARDS (new resellers spread, see README)")
		}
	}
}

// CaptureReseller makes rs's stream capture its subjects before the
// registry names it, so that the router never routes to a reseller whose
// copies no stream would store.
func (r *Layout) CaptureReseller(ctx context.Context, rs relay.Reseller) error {
	names := []string{relay.StreamDelivery}
	if s := rs.DeliveryStream(); s != relay.StreamDelivery {
		names = append(names, s)
	}
	return r.applyLayout(ctx, r.DeliveryLayout(rs), names, false)
}

// HealDelivery re-applies the layout after a copy found no stream: two
// relays registering at the same moment may each have widened a stream
// from a view without the other's reseller. Streams whose subjects are
// right are left alone.
func (r *Layout) HealDelivery(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, store.StoreAttempt)
	defer cancel()
	layout := r.DeliveryLayout()
	if err := r.applyLayout(ctx, layout, slices.Sorted(maps.Keys(layout)), false); err != nil {
		r.log.Warn().Err(err).Msg("delivery streams not repaired; will retry")
	}
}

// applyLayout brings the named streams (DELIVERY first, so that it gives up
// deliver.> before another stream lists a reseller) to the layout. Subjects
// are only added, never dropped: a relay with an older view of the
// registry must not take away another relay's new reseller. always updates
// streams whose subjects did not change too (config changes at start).
func (r *Layout) applyLayout(ctx context.Context, layout map[string][]string, names []string, always bool) error {
	r.layoutMu.Lock()
	defer r.layoutMu.Unlock()
	slices.SortStableFunc(names, func(a, b string) int { return deliveryFirst(a) - deliveryFirst(b) })
	for _, name := range names {
		info, err := r.streams.StreamInfo(ctx, name)
		if err != nil {
			return err
		}
		var cur []string
		if info != nil {
			cur = info.Config.Subjects
		}
		want := widen(cur, layout[name], name)
		if len(want) == 0 {
			want = []string{name} // what JetStream gives a stream without subjects
		}
		if !always && cur != nil && store.SameSet(cur, want) {
			continue
		}
		sc := r.streams.DeliveryConfig(name, want)
		r.streams.FitHeld(&sc, info)
		if err := r.streams.EnsureStream(ctx, sc); err != nil {
			return fmt.Errorf("provision stream %s: %w", name, err)
		}
	}
	return nil
}

// widen is what a stream should capture: deliver.> alone, or the union of
// what it has and what it needs, without deliver.> and without the
// stream's own name (JetStream's subject for a stream given none).
func widen(cur, need []string, name string) []string {
	all := events.DeliverPrefix + ".>"
	if slices.Equal(need, []string{all}) {
		return need
	}
	out := slices.Clone(need)
	for _, s := range cur {
		if s != all && s != name && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

func deliveryFirst(name string) int {
	if name == relay.StreamDelivery {
		return 0
	}
	return 1
}
