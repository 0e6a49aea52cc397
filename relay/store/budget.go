package store

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/billrelay/billrelay/relay"
	"github.com/nats-io/nats.go/jetstream"
)

// The store budget. nats-server weighs a stream's MaxBytes against the
// store limit only when the stream is created or updated (jetstream.go
// reserveStreamResources and checkBytesLimits: the MaxBytes of all streams
// must add up to no more than the store). A publish is refused when the
// whole store is used up (jetStream.limitsExceeded), whatever stream it
// goes to: a reservation alone keeps no room at publish time. Room kept
// for settling is therefore room that nobody else can take only if every
// stream and bucket has a MaxBytes and they add up to at most the store.
// So the relay splits MaxFileStore among all of them: SettleReservePercent
// for the streams that settling writes (RECEIPTS, ADVISORIES, DLQ), the
// rest for the others, and the server refuses any layout that overcommits.
//
// A stream that reaches its MaxBytes refuses new messages (DiscardNew)
// where dropping old ones would lose something accepted; the writer then
// answers 507 (ingest) or retries (the router, the dead-letter copy).

// settleShares split the settle reserve, in parts of 10,000.
// ADVISORIES holds the advisories of terms whose dead-letter copy waits for
// room in DLQ; its part lets it keep about as many as DLQ holds copies.
var settleShares = map[string]int64{
	relay.StreamReceipts:   4000,
	relay.StreamDLQ:        4000,
	relay.StreamAdvisories: 2000,
}

// bulkShares split what is left, in parts of 10,000. StreamDelivery's share
// is that of all delivery shards together. EVENTS and DELIVERY keep
// Retention, INGEST about a day: they get most.
var bulkShares = map[string]int64{
	relay.StreamIngest:   1500,
	relay.StreamEvents:   2500,
	relay.StreamOrders:   700,
	relay.StreamDelivery: 4500,
	relay.StreamAudit:    200,
	relay.StreamOps:      100,
	relay.BucketRegistry: 100,
	relay.BucketOwners:   200,
	relay.BucketGates:    100,
	relay.BucketDone:     100,
}

// shareOf is share parts of 10,000 of x, without overflow for any store.
func shareOf(x, share int64) int64 {
	return x/10_000*share + x%10_000*share/10_000
}

// deliveryShards is how many delivery streams share DELIVERY's part: the
// configured count, or more when resellers still live on shards beyond it
// (a count lowered later), so that the parts never add up to more.
func (r *Store) deliveryShards() int {
	n := r.cfg.DeliveryShards
	if r.resellers == nil {
		return n
	}
	for _, rs := range r.resellers() {
		var k int
		if _, err := fmt.Sscanf(rs.DeliveryStream(), relay.StreamDelivery+"_%d", &k); err == nil {
			n = max(n, k+1)
		}
	}
	return n
}

// FitHeld keeps a stream that refuses when full (DiscardNew) from being
// given less room than it already holds: its share would make it refuse
// every new message until old ones age out, and a derived stream that
// refuses stops the router for every tenant. This happens on a store
// filled before the budget existed, or after RELAY_DELIVERY_SHARDS or
// RELAY_MAX_FILE_STORE changed. Such a stream keeps a quarter more than it
// holds; when the store cannot reserve that, ensureStream keeps the old
// configuration. The next start after its events aged out shrinks it.
func (r *Store) FitHeld(sc *jetstream.StreamConfig, info *jetstream.StreamInfo) {
	if info == nil || sc.Discard != jetstream.DiscardNew {
		return
	}
	held := int64(info.State.Bytes)
	if want := held + held/4; want > sc.MaxBytes {
		r.log.Warn().Str("stream", sc.Name).Int64("held_bytes", held).Int64("share_bytes", sc.MaxBytes).Int64("max_bytes", want).
			Msg("stream holds more than its share of RELAY_MAX_FILE_STORE; it keeps room for a quarter more until its events age out")
		sc.MaxBytes = want
	}
}

// StreamInfo is a stream's info, nil if it does not exist.
func (r *Store) StreamInfo(ctx context.Context, name string) (*jetstream.StreamInfo, error) {
	st, err := r.js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", name, Classify(err))
	}
	return st.CachedInfo(), nil
}

// settleFirst orders the streams so that the settle reserve is taken
// before the others: on a store that cannot hold every new limit, the
// ones refused (and kept as they were) are the bulk streams.
func settleFirst(cfgs []jetstream.StreamConfig) {
	slices.SortStableFunc(cfgs, func(a, b jetstream.StreamConfig) int {
		_, sa := settleShares[a.Name]
		_, sb := settleShares[b.Name]
		switch {
		case sa && !sb:
			return -1
		case sb && !sa:
			return 1
		}
		return 0
	})
}

// EnsureStream creates or updates a stream. An update the server refuses
// for lack of room keeps the stream as it is, with a warning: a store
// laid out by an older version (or under a larger RELAY_MAX_FILE_STORE)
// may have reserved or used more than the new layout allows, and the
// relay must still start on it. A stream that does not exist yet cannot be
// kept: that refusal is an error.
func (r *Store) EnsureStream(ctx context.Context, sc jetstream.StreamConfig) error {
	_, err := r.js.CreateOrUpdateStream(ctx, sc)
	if err == nil || !Refused(err) {
		return Classify(err)
	}
	st, serr := r.js.Stream(ctx, sc.Name)
	if serr != nil {
		return Classify(err)
	}
	old := st.CachedInfo().Config
	r.log.Warn().Err(err).Str("stream", sc.Name).Int64("max_bytes", sc.MaxBytes).Int64("kept_max_bytes", old.MaxBytes).
		Msg("the store has no room for this stream's new limits; it keeps its old configuration (lower what the store holds or raise RELAY_MAX_FILE_STORE)")
	if SameSet(old.Subjects, sc.Subjects) {
		return nil
	}
	sc.MaxBytes, sc.Discard = old.MaxBytes, old.Discard // subjects must still change (a new reseller's copies)
	if _, err := r.js.UpdateStream(ctx, sc); err != nil {
		return fmt.Errorf("update subjects of %s: %w", sc.Name, Classify(err))
	}
	return nil
}

// EnsureBucket is ensureStream for a key-value bucket.
func (r *Store) EnsureBucket(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	kv, err := r.js.CreateOrUpdateKeyValue(ctx, cfg)
	if err == nil || !Refused(err) {
		return kv, Classify(err)
	}
	kv, kerr := r.js.KeyValue(ctx, cfg.Bucket)
	if kerr != nil {
		return nil, Classify(err)
	}
	r.log.Warn().Err(err).Str("stream", "KV_"+cfg.Bucket).Int64("max_bytes", cfg.MaxBytes).
		Msg("the store has no room for this bucket's new limits; it keeps its old configuration (lower what the store holds or raise RELAY_MAX_FILE_STORE)")
	return kv, nil
}

// settleReserve is the room kept for settling.
func settleReserve(c *relay.Config) int64 {
	return shareOf(c.MaxFileStore, int64(c.SettleReservePercent)*100)
}

// MaxBytes is the MaxBytes of a stream or bucket. Delivery shards share
// relay.StreamDelivery's part: shards of them each get 1/shards of it.
func MaxBytes(c *relay.Config, name string, shards int) int64 {
	if s, ok := settleShares[name]; ok {
		return shareOf(settleReserve(c), s)
	}
	bulk := c.MaxFileStore - settleReserve(c)
	if relay.IsDeliveryStream(name) {
		return shareOf(bulk, bulkShares[relay.StreamDelivery]) / int64(max(shards, 1))
	}
	s, ok := bulkShares[name]
	if !ok {
		panic("relay: no store budget for " + name) // a new stream must be given a share above
	}
	return shareOf(bulk, s)
}
