package route

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/store"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// rewindWindow is how far before its floor the router routes again after
// an unclean stop.
const rewindWindow = 30 * time.Second

// rewind routes again, after an unclean stop, the envelopes from
// rewindWindow before the router's acknowledged floor to the last one
// stored: those before the floor may have lost derived copies that never
// reached the disk, and those after it were handed to the router before
// the stop and would otherwise wait out their ack wait. Repeats are
// dropped by message id; later redeliveries are routed (and dropped) again.
func (r *Router) rewind(ctx context.Context) error {
	floor, at, err := r.routedFloor(ctx)
	if err != nil {
		return err
	}
	s, err := r.js.Stream(ctx, relay.StreamIngest)
	if err != nil {
		return store.Classify(err)
	}
	last := s.CachedInfo().State.LastSeq
	if last == 0 || last < floor {
		return nil
	}
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: floor + 1}
	if floor > 0 {
		start := at.Add(-rewindWindow)
		cfg = jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &start}
	}
	n, err := r.routeRange(ctx, cfg, last)
	r.log.Warn().Int("envelopes", n).Uint64("floor", floor).Uint64("last", last).
		Msg("previous run did not stop cleanly; routed the last envelopes again")
	return err
}

// routeRange routes the envelopes an ordered consumer reads, up to last.
func (r *Router) routeRange(ctx context.Context, cfg jetstream.OrderedConsumerConfig, last uint64) (int, error) {
	oc, err := r.js.OrderedConsumer(ctx, relay.StreamIngest, cfg)
	if err != nil {
		return 0, store.Classify(err)
	}
	n := 0
	var stopped error
	err = store.Scan(ctx, oc, 5*time.Second, func(m jetstream.Msg, md *jetstream.MsgMetadata) bool {
		if md.Sequence.Stream > last {
			return false
		}
		if !r.routeEnvelopes(ctx, []jetstream.Msg{m}) {
			stopped = ctx.Err()
			return false
		}
		n++
		return md.Sequence.Stream < last
	})
	if err != nil {
		return n, fmt.Errorf("rewind: read envelopes: %w", err)
	}
	return n, stopped
}

// routedFloor is the last envelope the router acknowledged, and when it
// was stored; zero when there is none.
func (r *Router) routedFloor(ctx context.Context) (uint64, time.Time, error) {
	c, err := r.js.Consumer(ctx, relay.StreamIngest, ConsumerName)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return 0, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, store.Classify(err)
	}
	floor := c.CachedInfo().AckFloor.Stream
	if floor == 0 {
		return 0, time.Time{}, nil
	}
	s, err := r.js.Stream(ctx, relay.StreamIngest)
	if err != nil {
		return 0, time.Time{}, store.Classify(err)
	}
	m, err := s.GetMsg(ctx, floor)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, time.Time{}, nil // aged out: nothing recent to rewind
	}
	if err != nil {
		return 0, time.Time{}, store.Classify(err)
	}
	return floor, m.Time, nil
}

// ackFence holds routed envelopes until their fence has passed.
type ackFence struct {
	delay   time.Duration
	pending []fenced
}

type fenced struct {
	msg jetstream.Msg
	due time.Time
}

func (f *ackFence) add(m jetstream.Msg, now time.Time) {
	f.pending = append(f.pending, fenced{msg: m, due: now.Add(f.delay)})
}

// ripe returns the envelopes whose fence has passed and forgets them.
func (f *ackFence) ripe(now time.Time) []jetstream.Msg {
	n := 0
	for n < len(f.pending) && !f.pending[n].due.After(now) {
		n++
	}
	out := make([]jetstream.Msg, n)
	for i := range n {
		out[i] = f.pending[i].msg
	}
	f.pending = append(f.pending[:0], f.pending[n:]...)
	return out
}

// copyGroups holds the router's copies per delivery stream, each group in
// routing order (one reseller's copies all go to one stream, so its order
// holds): an atomic batch holds one stream's messages only.
type copyGroups struct {
	idx   map[string]int
	parts [][]*nats.Msg
	n     int
}

func (g *copyGroups) add(stream string, m *nats.Msg) {
	i, ok := g.idx[stream]
	if !ok {
		i = len(g.parts)
		g.idx[stream] = i
		g.parts = append(g.parts, nil)
	}
	g.parts[i] = append(g.parts[i], m)
	g.n++
}

// copyParts is what the router stores in one go: a part per stream for
// atomic batches; behind the fence, one part still grouped by stream, so
// that it is pipelined together and each stream's queue in the server gets
// its messages in runs.
func (r *Router) copyParts(g *copyGroups) [][]*nats.Msg {
	if len(g.parts) < 2 || !store.DerivedLazy(r.cfg) {
		return g.parts
	}
	return [][]*nats.Msg{slices.Concat(g.parts...)}
}

func isDeliverSubject(s string) bool { return strings.HasPrefix(s, events.DeliverPrefix+".") }
