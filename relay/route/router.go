package route

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/ingest"
	"github.com/billrelay/billrelay/relay/metrics"
	"github.com/billrelay/billrelay/relay/store"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Recipients is what the router asks the registry: who receives an item's
// events (its owner, or every reseller of the account), and where a
// reseller's copies are stored.
type Recipients interface {
	Recipients(k events.Key) []string
	Reseller(id string) (relay.Reseller, error)
}

// Layout repairs the delivery streams when a copy finds no stream for its
// subject (a reseller registered on another relay a moment ago).
type Layout interface {
	HealDelivery(ctx context.Context)
}

// Config is what the router is built from.
type Config struct {
	Relay    relay.Config
	Log      zerolog.Logger
	JS       jetstream.JetStream
	Metrics  *metrics.Metrics
	Dir      Recipients
	Layout   Layout
	Consumer jetstream.ConsumerConfig // the router's consumer on INGEST
	// Unclean says the previous run did not stop cleanly: rewind first.
	Unclean bool
}

// Router expands INGEST envelopes into per-event EVENTS and ORDERS
// messages and EVENTS into per-reseller DELIVERY copies. It acks an
// envelope only after all of that is stored (fsynced under the default
// sync policy), so a crash at any point repeats writes whose message ids
// make them harmless, and loses nothing. It owns its consumer on INGEST,
// the floor below which every envelope is acked (where a consumer lost at
// run time is re-created), and the item states of the transition guard.
type Router struct {
	cfg     relay.Config
	log     zerolog.Logger
	js      jetstream.JetStream
	metrics *metrics.Metrics
	dir     Recipients
	layout  Layout
	w       store.Writer
	consCfg jetstream.ConsumerConfig
	items   *itemCache

	cons    jetstream.Consumer
	floor   *ackFloor
	unclean bool
}

// New makes the router; Open and Run are its lifecycle.
func New(c Config) *Router {
	return &Router{
		cfg: c.Relay, log: c.Log, js: c.JS, metrics: c.Metrics, dir: c.Dir, layout: c.Layout,
		w: store.Writer{JS: c.JS, Cfg: c.Relay}, consCfg: c.Consumer, items: newItemCache(),
		floor: newAckFloor(), unclean: c.Unclean,
	}
}

// Open creates (or re-creates after floor) the router's consumer.
func (r *Router) Open(ctx context.Context) error {
	cons, err := r.ConsumerName(ctx, r.floor.seq)
	if err != nil {
		return err
	}
	r.cons = cons
	r.floor.reset(cons.CachedInfo().AckFloor.Stream)
	return nil
}

// Run routes until ctx ends (nil) or the consumer is lost.
func (r *Router) Run(ctx context.Context) error {
	if r.unclean {
		if err := r.rewind(ctx); err != nil && ctx.Err() == nil {
			r.log.Error().Err(err).Msg("re-routing after an unclean stop failed; continuing from the acknowledged floor")
		}
		r.unclean = false
	}
	return r.consumeIngest(ctx, r.cons, r.floor)
}

// ackFloor follows the router's acknowledged floor: every envelope up to
// seq is acked. Acks come out of order (redeliveries), so those above the
// floor wait in above until the gap below them closes.
type ackFloor struct {
	seq   uint64
	above map[uint64]bool
}

// maxFloorGap bounds the acks held above the floor: twice the consumer's
// MaxAckPending, beyond which the gap is not one of pending redeliveries.
const maxFloorGap = 2 * 20_000

func newAckFloor() *ackFloor { return &ackFloor{above: map[uint64]bool{}} }

func (f *ackFloor) reset(seq uint64) {
	f.seq = seq
	clear(f.above)
}

func (f *ackFloor) acked(seq uint64) {
	if seq <= f.seq {
		return
	}
	f.above[seq] = true
	if len(f.above) > maxFloorGap {
		// a gap that never closes (envelopes aged out unrouted, or
		// acked by another relay): the floor moves past it
		f.seq = slices.Min(slices.Collect(maps.Keys(f.above))) - 1
	}
	for f.above[f.seq+1] {
		delete(f.above, f.seq+1)
		f.seq++
	}
}

// ConsumerName creates or updates the router's consumer. One made by an
// earlier version with AckAll (which cannot be updated to explicit acks)
// is replaced by one that starts after its acknowledged floor; one lost
// while the relay runs is re-created after floor, the last this run knew.
func (r *Router) ConsumerName(ctx context.Context, floor uint64) (jetstream.Consumer, error) {
	cfg := r.consCfg
	old, err := r.js.Consumer(ctx, relay.StreamIngest, ConsumerName)
	switch {
	case err == nil:
		// where it starts cannot change once made
		cfg.DeliverPolicy, cfg.OptStartSeq = old.CachedInfo().Config.DeliverPolicy, old.CachedInfo().Config.OptStartSeq
	case errors.Is(err, jetstream.ErrConsumerNotFound) && floor > 0:
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, floor+1
		r.log.Warn().Uint64("from_seq", floor+1).Msg("router consumer was gone; re-created after the acknowledged floor")
	}
	if err == nil && old.CachedInfo().Config.AckPolicy != cfg.AckPolicy {
		floor := old.CachedInfo().AckFloor.Stream
		if err := r.js.DeleteConsumer(ctx, relay.StreamIngest, ConsumerName); err != nil {
			return nil, fmt.Errorf("replace router consumer: %w", store.Classify(err))
		}
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, floor+1
		r.log.Info().Uint64("from_seq", floor+1).Msg("router consumer replaced (explicit acks)")
	}
	cons, err := r.js.CreateOrUpdateConsumer(ctx, relay.StreamIngest, cfg)
	if err != nil {
		return nil, fmt.Errorf("router consumer: %w", store.Classify(err))
	}
	return cons, nil
}

// routerPullBytes bounds what the router's subscription holds for it:
// envelopes reach 2 MiB, and a subscription that holds more than 64 MiB
// drops messages (a slow consumer), which then wait out routerAckWait.
const routerPullBytes = 16 << 20

// consumeIngest routes until ctx ends (nil) or the consumer is lost.
func (r *Router) consumeIngest(ctx context.Context, cons jetstream.Consumer, floor *ackFloor) error {
	in := make(chan jetstream.Msg, 16)
	errs := make(chan error, 1)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		select {
		case in <- m:
		case <-ctx.Done():
		}
	}, jetstream.PullMaxBytes(routerPullBytes), jetstream.PullPriorityGroup(store.RelayGroup), store.ConsumeErrs(r.log, "router", errs))
	if err != nil {
		return fmt.Errorf("consume %s: %w", relay.StreamIngest, store.Classify(err))
	}
	defer cc.Stop()
	return r.routeLoop(ctx, in, store.ConsumeWatch{Cons: cons, Errs: errs, Closed: cc.Closed()}, floor)
}

// routeLoop takes whatever envelopes are waiting (at least one, no linger
// timer), stores everything they hold, and acks each once its durability
// fence has passed. Acks are explicit, one per envelope: after a restart
// JetStream hands out new envelopes at once and redelivers the pending
// ones only when their ack wait ends, so acking "all up to" a new one
// would settle envelopes this run never routed.
func (r *Router) routeLoop(ctx context.Context, in <-chan jetstream.Msg, w store.ConsumeWatch, floor *ackFloor) error {
	fence := &ackFence{}
	if store.DerivedLazy(r.cfg) {
		fence.delay = store.FenceDelay
	}
	tick := time.NewTicker(store.DerivedSyncInterval)
	defer tick.Stop()
	for {
		select {
		case first := <-in:
			batch := drain(in, first, 64, routeBatchBytes)
			if !r.routeEnvelopes(ctx, batch) {
				return nil
			}
			for _, m := range batch {
				fence.add(m, time.Now())
			}
		case <-tick.C:
		case err := <-w.Errs:
			if err := w.Lost(ctx, err); err != nil {
				return err
			}
		case <-w.Closed:
			return w.Stopped()
		case <-ctx.Done():
			return nil
		}
		for _, m := range fence.ripe(time.Now()) {
			if err := m.Ack(); err != nil {
				r.log.Warn().Err(err).Msg("router ack failed; the envelope will be routed again")
				continue
			}
			if md, err := m.Metadata(); err == nil {
				floor.acked(md.Sequence.Stream)
			}
		}
	}
}

// routeBatchBytes bounds the envelopes routed together: a backlog of large
// commit groups must not make one batch outlast routerAckWait (it would be
// handed out again while still being routed).
const routeBatchBytes = 1 << 20

func drain(in <-chan jetstream.Msg, first jetstream.Msg, limit, bytes int) []jetstream.Msg {
	batch := []jetstream.Msg{first}
	size := len(first.Data())
	for len(batch) < limit && size < bytes {
		select {
		case m := <-in:
			batch = append(batch, m)
			size += len(m.Data())
		default:
			return batch
		}
	}
	return batch
}

// stored is one event as it now sits in EVENTS (or ORDERS).
type stored struct {
	rec ingest.Record
	seq uint64
	at  time.Time // when ingest stored it (the envelope's time)
}

// routeEnvelopes loads the last state of the batch's items, stores its
// events, then their copies. It reports whether everything is stored
// (false only when ctx ended).
func (r *Router) routeEnvelopes(ctx context.Context, batch []jetstream.Msg) bool {
	var evRecs, orderRecs []ingest.Record
	var evAt []time.Time
	for _, m := range batch {
		recs, err := ingest.DecodeEnvelope(m.Data())
		md, _ := m.Metadata()
		if err != nil || md == nil {
			r.log.Error().Err(err).Msg("unreadable envelope skipped")
			continue
		}
		for _, rc := range recs {
			if strings.HasPrefix(rc.Subject, events.OrdersPrefix+".") {
				orderRecs = append(orderRecs, rc)
				continue
			}
			evRecs, evAt = append(evRecs, rc), append(evAt, md.Timestamp)
		}
	}
	if _, ok := r.storeAll(ctx, msgsOf(orderRecs)); !ok {
		return false
	}
	keys := make([]events.Key, len(evRecs))
	for i, rc := range evRecs {
		keys[i], _ = events.ParseEventSubject(rc.Subject)
	}
	r.prefetchItems(ctx, keys)
	seqs, ok := r.storeAll(ctx, msgsOf(evRecs))
	if !ok {
		return false
	}
	evs := make([]stored, len(evRecs))
	for i := range evRecs {
		evs[i] = stored{rec: evRecs[i], seq: seqs[i], at: evAt[i]}
	}
	for _, part := range r.copyParts(r.copiesOf(evs, keys)) {
		if _, ok := r.storeAll(ctx, part); !ok {
			return false
		}
	}
	return true
}

// storeAll stores msgs in order, in atomic batches, retrying until it
// succeeds or ctx ends, and returns their sequences.
func (r *Router) storeAll(ctx context.Context, msgs []*nats.Msg) ([]uint64, bool) {
	seqs := make([]uint64, 0, len(msgs))
	for start := 0; start < len(msgs); start += store.MaxAtomicBatch {
		chunk := msgs[start:min(start+store.MaxAtomicBatch, len(msgs))]
		s, ok := r.storeChunk(ctx, chunk)
		if !ok {
			return nil, false
		}
		seqs = append(seqs, s...)
	}
	return seqs, true
}

func msgsOf(recs []ingest.Record) []*nats.Msg {
	out := make([]*nats.Msg, len(recs))
	for i, rc := range recs {
		out[i] = rc.Msg()
	}
	return out
}

func (r *Router) storeChunk(ctx context.Context, chunk []*nats.Msg) ([]uint64, bool) {
	backoff := 50 * time.Millisecond
	for {
		seqs, err := r.w.Ordered(ctx, chunk)
		if err == nil {
			return seqs, true
		}
		r.log.Warn().Err(err).Int("messages", len(chunk)).Dur("retry_in", backoff).Msg("routing store failed")
		if isDeliverSubject(chunk[0].Subject) && store.NoStream(err) {
			r.layout.HealDelivery(ctx) // a reseller's subjects may be missing from its stream
		}
		select {
		case <-time.After(backoff):
			backoff = min(2*backoff, 5*time.Second)
		case <-ctx.Done():
			return nil, false
		}
	}
}

// copiesOf checks each event against its item's last state and makes a
// copy for each of its recipients, grouped by the stream that stores it.
func (r *Router) copiesOf(evs []stored, keys []events.Key) *copyGroups {
	out := &copyGroups{idx: map[string]int{}}
	for i, e := range evs {
		if keys[i].Item == "" {
			r.log.Error().Str("subject", e.rec.Subject).Msg("unroutable event skipped")
			continue
		}
		flags := r.items.observe(keys[i], stateOf(e.rec.Header, e.rec.Body, e.seq))
		for _, f := range flags {
			r.metrics.Flagged.WithLabelValues(f).Inc()
			r.log.Warn().Str("event_id", e.rec.Header.Get(relay.HeaderEventID)).Str("flag", f).Str("item", keys[i].Item).Msg("transition flagged")
		}
		for _, id := range r.dir.Recipients(keys[i]) {
			rs, _ := r.dir.Reseller(id)
			out.add(rs.DeliveryStream(), CopyFor(id, keys[i], e.rec, e.seq, e.at, flags))
		}
	}
	r.metrics.Copies.Add(float64(out.n))
	return out
}

// CopyFor is reseller's own copy of an event: the same bytes, its own
// subject, the event's headers, and a message id that makes a repeated
// copy a duplicate.
func CopyFor(reseller string, k events.Key, rec ingest.Record, seq uint64, at time.Time, flags []string) *nats.Msg {
	h := rec.Header
	c := nats.NewMsg(events.DeliverSubject(reseller, k))
	c.Data = rec.Body
	c.Header.Set(jetstream.MsgIDHeader, ingest.CopyMsgID(reseller, rec.MsgID))
	c.Header.Set(relay.HeaderEventID, h.Get(relay.HeaderEventID))
	for _, name := range []string{relay.HeaderContentType, relay.HeaderType, relay.HeaderState, relay.HeaderKind, relay.HeaderTime, relay.HeaderSequence} {
		if v := h.Get(name); v != "" {
			c.Header.Set(name, v)
		}
	}
	c.Header.Set(relay.HeaderEventSeq, strconv.FormatUint(seq, 10))
	c.Header.Set(relay.HeaderStored, strconv.FormatInt(at.UnixNano(), 10))
	if len(flags) > 0 {
		c.Header.Set(relay.HeaderFlags, strings.Join(flags, ","))
	}
	return c
}

// ConsumerName is the router's durable consumer on INGEST.
const ConsumerName = "router"

// ConsumerConfig is the router's durable consumer on INGEST, pinned to one
// relay of the group.
func ConsumerConfig(cfg relay.Config) jetstream.ConsumerConfig {
	return store.Pinned(jetstream.ConsumerConfig{
		Durable:       ConsumerName,
		Description:   "expands INGEST envelopes into EVENTS, ORDERS and per-reseller DELIVERY copies",
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy, // see routeLoop: AckAll would ack redeliveries not yet routed
		AckWait:       routerAckWait,
		MaxDeliver:    -1,
		MaxAckPending: 20_000,
		Replicas:      cfg.Replicas,
	}, cfg.FailoverAfter)
}

// routerAckWait is how soon an envelope lost in flight (with a server that
// died) is handed to the router again: routing it twice is harmless.
const routerAckWait = 10 * time.Second
