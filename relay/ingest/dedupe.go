package ingest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/store"
	"github.com/nats-io/nats.go/jetstream"
)

// dedupe remembers every event id stored within the dedupe window, so that
// ingest answers "duplicate" at once and a duplicate never reaches the
// store (where, inside a commit group, it would sink its neighbours). It
// holds this relay's commits as they happen and a tail of INGEST, which
// brings the whole window at start and other relays' commits after.
//
// Memory is about 150 bytes per id: rate × window × 150 B (see README).
type dedupe struct {
	mu     sync.Mutex
	ids    map[string]*claim
	queue  []queued // ids in the order they were stored, for expiry
	head   int
	window time.Duration
	ready  chan struct{}
}

// claim is one id: being committed (done open) or stored (done closed,
// ok true). A failed commit removes its claims.
type claim struct {
	done chan struct{}
	ok   bool
}

type queued struct {
	id string
	at time.Time
}

func newDedupe(window time.Duration) *dedupe {
	return &dedupe{ids: map[string]*claim{}, window: window, ready: make(chan struct{})}
}

// claimAll takes the ids not yet stored or being stored. It returns, per
// id, whether the caller now owns it, and for ids another commit is
// storing right now, the claim to wait for.
func (d *dedupe) claimAll(ids []string) (owned []bool, pending []*claim) {
	d.mu.Lock()
	defer d.mu.Unlock()
	owned, pending = make([]bool, len(ids)), make([]*claim, len(ids))
	mine := map[string]bool{}
	for i, id := range ids {
		c, seen := d.ids[id]
		switch {
		case mine[id]:
			// repeated within this call: a duplicate of what the call stores
		case !seen:
			d.ids[id] = &claim{done: make(chan struct{})}
			owned[i], mine[id] = true, true
		case !c.closed():
			pending[i] = c
		}
	}
	return owned, pending
}

func (c *claim) closed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// settle records the outcome of a commit of ids.
func (d *dedupe) settle(ids []string, stored bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := time.Now()
	for _, id := range ids {
		c := d.ids[id]
		if c == nil || c.closed() {
			continue
		}
		c.ok = stored
		close(c.done)
		if stored {
			d.queue = append(d.queue, queued{id, now})
		} else {
			delete(d.ids, id)
		}
	}
	d.expire(now)
}

// remember adds ids stored by anyone (from the INGEST tail).
func (d *dedupe) remember(ids []string, at time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, id := range ids {
		if _, ok := d.ids[id]; ok {
			continue
		}
		c := &claim{done: make(chan struct{}), ok: true}
		close(c.done)
		d.ids[id] = c
		d.queue = append(d.queue, queued{id, at})
	}
	d.expire(time.Now())
}

// expire forgets ids older than the window. Lock held.
func (d *dedupe) expire(now time.Time) {
	for d.head < len(d.queue) && now.Sub(d.queue[d.head].at) > d.window {
		if c := d.ids[d.queue[d.head].id]; c != nil && c.closed() {
			delete(d.ids, d.queue[d.head].id)
		}
		d.head++
	}
	if d.head > 4096 && d.head > len(d.queue)/2 {
		d.queue = append([]queued(nil), d.queue[d.head:]...)
		d.head = 0
	}
}

func (d *dedupe) size() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.ids)
}

// OpenDedupe starts reading the INGEST window into the index. It returns
// the tail to run (nil when there is nothing to read and no other relay
// writes): the tail loads the window, then keeps reading INGEST when other
// relays may write to it (an external NATS). AwaitDedupe waits for the
// load once the tail runs.
func (r *Ingest) OpenDedupe(ctx context.Context) (func(context.Context) error, error) {
	st, err := r.js.Stream(ctx, relay.StreamIngest)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", relay.StreamIngest, store.Classify(err))
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s info: %w", relay.StreamIngest, store.Classify(err))
	}
	// Nothing in the window (an empty INGEST, or its last envelope older
	// than the window: a relay idle longer than RELAY_DEDUPE_WINDOW, INGEST
	// keeping 24h): no envelope would come to say the window is loaded.
	start := time.Now().Add(-r.cfg.DedupeWindow)
	last := info.State.LastSeq
	empty := last == 0 || info.State.LastTime.Before(start)
	if empty {
		close(r.dedupe.ready)
		if r.cfg.LocalJetStream() {
			return nil, nil
		}
	}
	oc, err := r.js.OrderedConsumer(ctx, relay.StreamIngest, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &start})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", relay.StreamIngest, store.Classify(err))
	}
	tail := &ingestTail{r: r, oc: oc, last: last, caughtUp: empty}
	return tail.run, nil
}

// AwaitDedupe waits until the running tail loaded the dedupe window.
func (r *Ingest) AwaitDedupe(ctx context.Context) error {
	select {
	case <-r.dedupe.ready:
		r.log.Info().Int("ids", r.dedupe.size()).Msg("dedupe window loaded")
		return nil
	case <-ctx.Done():
		return fmt.Errorf("load dedupe window: %w", ctx.Err())
	}
}

// ingestTail reads INGEST into the dedupe index: up to the last envelope
// stored at start, and on, when other relays write to INGEST too.
type ingestTail struct {
	r        *Ingest
	oc       jetstream.Consumer
	last     uint64
	caughtUp bool
}

func (t *ingestTail) run(ctx context.Context) error {
	it, err := t.oc.Messages()
	if err != nil {
		return fmt.Errorf("tail %s: %w", relay.StreamIngest, store.Classify(err))
	}
	defer it.Stop()
	defer context.AfterFunc(ctx, it.Stop)()
	for {
		m, err := it.Next()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("tail %s: %w", relay.StreamIngest, err)
		}
		md, _ := m.Metadata()
		if ids, err := envelopeIDs(m.Data()); err == nil {
			t.r.dedupe.remember(ids, md.Timestamp)
		}
		if !t.caughtUp && md.Sequence.Stream >= t.last {
			t.caughtUp = true
			close(t.r.dedupe.ready)
			if t.r.cfg.LocalJetStream() {
				return nil // only this relay writes to an embedded store
			}
		}
	}
}

// envelopeIDs lists the dedupe keys of an envelope's records.
func envelopeIDs(b []byte) ([]string, error) {
	recs, err := DecodeEnvelope(b)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(recs))
	for i, rc := range recs {
		ids[i] = dedupeKey(rc)
	}
	return ids, nil
}

// claim settles, for each id, whether this caller stores it (true) or it
// is already stored (false: a duplicate). An id another commit is storing
// right now is waited for: if that commit fails, the id is claimed again,
// so that a "duplicate" answer always means stored.
func (d *dedupe) claim(ctx context.Context, ids []string) ([]bool, error) {
	select {
	case <-d.ready:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: still loading the dedupe window", events.ErrUnavailable)
	}
	owned := make([]bool, len(ids))
	todo := make([]int, len(ids))
	for i := range ids {
		todo[i] = i
	}
	for len(todo) > 0 {
		batch := make([]string, len(todo))
		for j, i := range todo {
			batch[j] = ids[i]
		}
		got, pending := d.claimAll(batch)
		var again []int
		for j, i := range todo {
			owned[i] = got[j]
			if pending[j] == nil {
				continue
			}
			select {
			case <-pending[j].done:
			case <-ctx.Done():
				d.settle(ownedIDs(ids, owned), false)
				return nil, fmt.Errorf("%w: %w", events.ErrUnavailable, ctx.Err())
			}
			if !pending[j].ok {
				again = append(again, i)
			}
		}
		todo = again
	}
	return owned, nil
}

func ownedIDs(ids []string, owned []bool) []string {
	var out []string
	for i, o := range owned {
		if o {
			out = append(out, ids[i])
		}
	}
	return out
}
