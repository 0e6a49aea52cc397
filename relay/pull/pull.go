package pull

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/store"
	"github.com/nats-io/nats.go/jetstream"
)

// Delivery is one event handed to a puller, with the ack id to settle it.
type Delivery struct {
	Event   json.RawMessage `json:"event"`
	AckID   string          `json:"ack_id"`
	Attempt uint64          `json:"attempt"`
	// Seq is the position of this reseller's copy in its stream: events of
	// one item are to be applied in Seq order.
	Seq      uint64 `json:"seq"`
	Replay   bool   `json:"replay,omitempty"`
	Redriven bool   `json:"redriven,omitempty"`
	// Flags are the transition guard's findings ("stale", "regressive").
	Flags []string `json:"flags,omitempty"`
}

// watchFinal notes a delivery that JetStream will not repeat: the last that
// the consumer's own MaxDeliver allows (a consumer made by an older version
// may still have another limit than RELAY_MAX_DELIVER).
func (r *Puller) watchFinal(stream, consumer string, maxDeliver int, m jetstream.Msg, md *jetstream.MsgMetadata) {
	if maxDeliver < 1 || md.NumDelivered < uint64(maxDeliver) {
		return
	}
	r.finals.add(finalDelivery{stream: stream, reseller: consumer, subject: m.Subject(), seq: md.Sequence.Stream,
		attempt: md.NumDelivered, body: m.Data(), at: time.Now().Add(finalGrace(r.cfg.AckWait))})
}

// Pull takes up to max events from the consumer of a reseller (its
// events) or a seller (the orders its resellers placed or cancelled). It
// answers as soon as at least one is there, with whatever else is there
// at that moment, or after wait with none. It never takes more than max
// from the consumer, so nothing is held back in a hidden buffer while its
// AckWait runs.
func (r *Puller) Pull(ctx context.Context, role relay.Role, id string, max int, wait time.Duration) ([]Delivery, error) {
	ep, err := r.dir.EndpointOf(role, id)
	if err != nil {
		return nil, err
	}
	if ep.Webhook != nil {
		return nil, fmt.Errorf("%w: %s receives its events on its webhook; remove the webhook to pull", events.ErrConflict, ep)
	}
	return r.pull(ctx, ep.Stream, ep.ID, max, wait)
}

func (r *Puller) pull(ctx context.Context, stream, consumer string, max int, wait time.Duration) ([]Delivery, error) {
	cons, err := r.Consumer(ctx, stream, consumer)
	if err != nil {
		return nil, err
	}
	key, limit := stream+"/"+consumer, cons.CachedInfo().Config.MaxWaiting
	if !r.polls.enter(key, limit) {
		return nil, fmt.Errorf("%w: %d pulls already wait on the consumer of %s, its limit; retry when one has returned", events.ErrTooMany, limit, consumer)
	}
	defer r.polls.leave(key)
	msgs, err := store.Fetch(ctx, cons, max, wait, r.work)
	if err != nil {
		if ctx.Err() != nil {
			store.NakAll(msgs) // the caller left: hand them to the next pull at once
		}
		return nil, fmt.Errorf("pull %s: %w", consumer, store.ClassifyPull(err))
	}
	// The ack wait of these deliveries runs from now, however long ago
	// their events were stored: their ack ids say so.
	handedOut := time.Now()
	out := make([]Delivery, 0, len(msgs))
	for _, m := range msgs {
		md, err := m.Metadata()
		if err != nil {
			continue
		}
		if r.receipts.SettledBefore(stream, consumer, md.Sequence.Stream, m) {
			continue
		}
		r.watchFinal(stream, consumer, cons.CachedInfo().Config.MaxDeliver, m, md)
		r.receipts.HandOut(stream, consumer, md.Sequence.Stream, m.Subject(), m.Headers())
		r.metrics.Delivered.WithLabelValues(consumer, "pull").Inc()
		out = append(out, Delivery{Event: m.Data(), AckID: r.sealAckID(m.Reply(), handedOut), Attempt: md.NumDelivered, Seq: md.Sequence.Stream,
			Replay: m.Headers().Get(relay.HeaderReplay) != "", Redriven: m.Headers().Get(relay.HeaderRedriven) != "", Flags: relay.FlagsOf(m.Headers())})
	}
	return out, nil
}

// pollGate counts the pulls in flight on each consumer. JetStream holds at
// most MaxWaiting pull requests per consumer; beyond that it drops a long
// poll's request without an answer (it carries heartbeats), and the poll
// would fail 10 s later as if the server had gone. So the relay refuses
// the extra pulls itself, at once.
type pollGate struct {
	mu sync.Mutex
	n  map[string]int
}

// enter takes a place on key if fewer than limit are taken (no limit
// when limit is 0).
func (g *pollGate) enter(key string, limit int) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if limit > 0 && g.n[key] >= limit {
		return false
	}
	if g.n == nil {
		g.n = map[string]int{}
	}
	g.n[key]++
	return true
}

func (g *pollGate) leave(key string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.n[key]--; g.n[key] <= 0 {
		delete(g.n, key)
	}
}

// Consumer returns a cached handle on a durable consumer.
func (r *Puller) Consumer(ctx context.Context, stream, name string) (jetstream.Consumer, error) {
	key := stream + "/" + name
	if c, ok := r.cons.Load(key); ok {
		return c.(jetstream.Consumer), nil
	}
	c, err := r.js.Consumer(ctx, stream, name)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, fmt.Errorf("%w: consumer %s on %s", events.ErrNotFound, name, stream)
	}
	if err != nil {
		return nil, fmt.Errorf("open consumer %s: %w", name, store.Classify(err))
	}
	r.cons.Store(key, c)
	return c, nil
}
