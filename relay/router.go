package relay

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// maxAtomicBatch is the server's limit on messages in one atomic batch.
const maxAtomicBatch = 1000

// startRouter runs the fan-out from EVENTS to DELIVERY. The router is a
// durable consumer, so a crash half way through an event's copies only
// repeats them, and the copies' message ids make the repeat harmless. Several
// relays on one cluster share the consumer and never route an event twice.
func (r *Relay) startRouter(ctx, bg context.Context) error {
	cons, err := r.js.CreateOrUpdateConsumer(ctx, StreamEvents, r.routerConsumerConfig())
	if err != nil {
		return fmt.Errorf("create router consumer: %w", classify(err))
	}
	in := make(chan jetstream.Msg, maxAtomicBatch)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		select {
		case in <- m:
		case <-bg.Done():
		}
	}, jetstream.PullMaxMessages(maxAtomicBatch), jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		r.log.Debug().Err(err).Msg("router consume")
	}))
	if err != nil {
		return fmt.Errorf("start router: %w", classify(err))
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer cc.Stop()
		r.routeLoop(bg, in)
	}()
	return nil
}

// routeLoop takes whatever input is waiting (at least one message, no
// linger timer), stores all its copies, and only then acks the input. The
// batch that is being stored is the timer: under load batches grow by
// themselves.
func (r *Relay) routeLoop(ctx context.Context, in <-chan jetstream.Msg) {
	for {
		var first jetstream.Msg
		select {
		case first = <-in:
		case <-ctx.Done():
			return
		}
		batch := drain(in, first, maxAtomicBatch)
		if !r.routeBatch(ctx, batch) {
			return
		}
		if err := batch[len(batch)-1].Ack(); err != nil {
			r.log.Warn().Err(err).Msg("router ack failed; input will be routed again")
		}
	}
}

func drain(in <-chan jetstream.Msg, first jetstream.Msg, limit int) []jetstream.Msg {
	batch := []jetstream.Msg{first}
	for len(batch) < limit {
		select {
		case m := <-in:
			batch = append(batch, m)
		default:
			return batch
		}
	}
	return batch
}

// routeBatch stores every copy of batch, retrying until it succeeds or ctx
// ends. It reports whether the copies are stored.
func (r *Relay) routeBatch(ctx context.Context, batch []jetstream.Msg) bool {
	copies := r.copiesOf(ctx, batch)
	for start := 0; start < len(copies); start += maxAtomicBatch {
		chunk := copies[start:min(start+maxAtomicBatch, len(copies))]
		if !r.storeCopies(ctx, chunk) {
			return false
		}
	}
	return true
}

func (r *Relay) copiesOf(ctx context.Context, batch []jetstream.Msg) []*nats.Msg {
	keys := make([]events.Key, len(batch))
	for i, m := range batch {
		keys[i], _ = events.ParseEventSubject(m.Subject())
	}
	r.prefetchItems(ctx, batch, keys)
	var out []*nats.Msg
	for i, m := range batch {
		md, err := m.Metadata()
		if keys[i].Item == "" || err != nil {
			r.log.Error().Str("subject", m.Subject()).Msg("unroutable message skipped")
			continue
		}
		flags := r.items.observe(keys[i], stateOf(m.Headers(), m.Data(), md.Sequence.Stream))
		for _, f := range flags {
			r.metrics.flagged.WithLabelValues(f).Inc()
			r.log.Warn().Str("event_id", m.Headers().Get(HeaderEventID)).Str("flag", f).Str("item", keys[i].Item).Msg("transition flagged")
		}
		for _, reseller := range r.recipients(keys[i]) {
			out = append(out, copyFor(reseller, keys[i], m, md, flags))
		}
	}
	r.metrics.copies.Add(float64(len(out)))
	return out
}

// copyFor is reseller's own copy of an event: the same bytes, its own
// subject, the event's headers, and a message id that makes a repeated
// copy a duplicate.
func copyFor(reseller string, k events.Key, m jetstream.Msg, md *jetstream.MsgMetadata, flags []string) *nats.Msg {
	c := nats.NewMsg(events.DeliverSubject(reseller, k))
	c.Data = m.Data()
	h := m.Headers()
	id := h.Get(HeaderEventID)
	if id == "" {
		id = h.Get(jetstream.MsgIDHeader)
	}
	c.Header.Set(jetstream.MsgIDHeader, reseller+":"+id)
	c.Header.Set(HeaderEventID, id)
	for _, name := range []string{HeaderContentType, HeaderType, HeaderState, HeaderKind, HeaderTime, HeaderSequence} {
		if v := h.Get(name); v != "" {
			c.Header.Set(name, v)
		}
	}
	c.Header.Set(HeaderEventSeq, strconv.FormatUint(md.Sequence.Stream, 10))
	c.Header.Set(HeaderStored, strconv.FormatInt(md.Timestamp.UnixNano(), 10))
	if len(flags) > 0 {
		c.Header.Set(HeaderFlags, strings.Join(flags, ","))
	}
	return c
}

// storeCopies publishes one chunk of copies as an atomic batch (one fsync),
// falling back to one-by-one publishing when the chunk repeats copies that
// are already stored (after a crash or a redelivery of the router's input).
func (r *Relay) storeCopies(ctx context.Context, chunk []*nats.Msg) bool {
	backoff := 50 * time.Millisecond
	for {
		err := r.publishCopies(ctx, chunk)
		if err == nil {
			return true
		}
		r.log.Warn().Err(err).Int("copies", len(chunk)).Dur("retry_in", backoff).Msg("storing copies failed")
		select {
		case <-time.After(backoff):
			backoff = min(2*backoff, 5*time.Second)
		case <-ctx.Done():
			return false
		}
	}
}

func (r *Relay) publishCopies(ctx context.Context, chunk []*nats.Msg) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err := r.publishAtomic(ctx, chunk)
	return err
}
