package push

import (
	"context"
	"sync"

	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/delivery"
	"github.com/billrelay/billrelay/relay/dlq"
	"github.com/billrelay/billrelay/relay/registry"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Directory lists the destinations and the callback policy each is dialled
// under.
type Directory interface {
	Endpoints() []relay.Destination
	CallbackPolicy(ep relay.Destination, tenant bool) registry.CallbackPolicy
}

// Receipts records what a pushed receiver applied or rejected.
type Receipts interface {
	Note(rc relay.Receipt)
	Sink(next relay.Sink, ep relay.Destination) relay.Sink
}

// Buckets provisions a bucket with its share of the store.
type Buckets interface {
	EnsureBucket(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error)
}

// Starter runs one part under the relay's supervision (restarted with
// backoff when it fails, named by readiness meanwhile) until ctx ends; the
// channel closes when it stopped.
type Starter func(ctx context.Context, name string, run func(context.Context) error) <-chan struct{}

// Config is what the pushers are built from.
type Config struct {
	Relay      relay.Config
	Push       PushConfig
	Log        zerolog.Logger
	JS         jetstream.JetStream
	Registry   *registry.View
	Dir        Directory
	Receipts   Receipts
	Buckets    Buckets
	Start      Starter
	DeadLetter func(ctx context.Context, o dlq.Origin, body []byte, attempts int, reason string) error
	Pause      func(ctx context.Context, ep relay.Destination, reason string) error
	OpsEvent   func(ctx context.Context, typ, reseller string, data map[string]any)
}

// Pusher runs one webhook dispatcher per destination that has a webhook
// and is not paused, and the taps adapters hold on EVENTS. It owns the
// delivery gates' and the done marks' buckets, and the circuit status of
// every webhook it pushes to.
type Pusher struct {
	cfg        relay.Config
	pcfg       PushConfig
	log        zerolog.Logger
	js         jetstream.JetStream
	reg        *registry.View
	dir        Directory
	receipts   Receipts
	buckets    Buckets
	start      Starter
	deadLetter func(ctx context.Context, o dlq.Origin, body []byte, attempts int, reason string) error
	pause      func(ctx context.Context, ep relay.Destination, reason string) error
	opsEvent   func(ctx context.Context, typ, reseller string, data map[string]any)

	gates    jetstream.KeyValue
	done     jetstream.KeyValue
	statuses webhookStatuses
	events   chan opsEvent
}

// New makes the pushers; Open provisions their buckets.
func New(c Config) *Pusher {
	return &Pusher{cfg: c.Relay, pcfg: c.Push, log: c.Log, js: c.JS, reg: c.Registry, dir: c.Dir, receipts: c.Receipts,
		buckets: c.Buckets, start: c.Start, deadLetter: c.DeadLetter, pause: c.Pause, opsEvent: c.OpsEvent,
		statuses: webhookStatuses{m: map[string]delivery.DeliveryStatus{}}, events: make(chan opsEvent, 256)}
}

// Open provisions the delivery gates' and the done marks' buckets.
func (r *Pusher) Open(ctx context.Context) error {
	if err := r.openGates(ctx); err != nil {
		return err
	}
	return r.openDone(ctx)
}

// SetPush sets how webhooks are delivered (the sink factory, backoff,
// breaker); Run reads it, so it is set before Run starts.
func (r *Pusher) SetPush(c PushConfig) { r.pcfg = c }

type opsEvent struct {
	typ, id string
	data    map[string]any
}

// webhookStatuses is the circuit status of each webhook pushed to.
type webhookStatuses struct {
	mu sync.Mutex
	m  map[string]delivery.DeliveryStatus
}

// set records st and returns the circuit it moved to: CircuitOpen when it
// opened, CircuitClosed when it closed, "" when it did not move.
func (w *webhookStatuses) set(id string, st delivery.DeliveryStatus) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	was := delivery.CircuitClosed
	if p, ok := w.m[id]; ok {
		was = p.Circuit
	}
	w.m[id] = st
	switch {
	case was != delivery.CircuitOpen && st.Circuit == delivery.CircuitOpen:
		return delivery.CircuitOpen
	case was != delivery.CircuitClosed && st.Circuit == delivery.CircuitClosed:
		return delivery.CircuitClosed
	}
	return ""
}

func (w *webhookStatuses) get(id string) (delivery.DeliveryStatus, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	st, ok := w.m[id]
	return st, ok
}
