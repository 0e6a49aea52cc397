package ops

import (
	"context"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/ingest"
	"github.com/billrelay/billrelay/relay/store"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Trail is what on-call and auditors read back: the audit trail of every
// change (AUDIT) and the operational events (OPS).
type Trail struct {
	js  jetstream.JetStream
	log zerolog.Logger
}

// NewTrail makes the trail on js.
func NewTrail(js jetstream.JetStream, log zerolog.Logger) *Trail { return &Trail{js: js, log: log} }

// Directory is what ops asks the registry.
type Directory interface {
	EndpointOf(role relay.Role, id string) (relay.Destination, error)
	SetState(ctx context.Context, ep relay.Destination, change func(w **relay.Webhook, paused *bool, reason *string)) (relay.Destination, error)
	Reseller(id string) (relay.Reseller, error)
	Seller(id string) (relay.Seller, error)
}

// Owners says who receives an item's events and who owns it.
type Owners interface {
	Recipients(k events.Key) []string
	Owner(k events.Key) (string, bool)
}

// Ingest stores an override as a seller's event.
type Ingest interface {
	EventMsg(p relay.Principal, e *events.Event) (*nats.Msg, error)
	Store(ctx context.Context, recs []ingest.Record) ([]relay.Result, error)
}

// Consumers hands out consumer handles and their configs.
type Consumers interface {
	Consumer(ctx context.Context, stream, name string) (jetstream.Consumer, error)
}

// Streams gives a destination's consumer config.
type Streams interface {
	ConsumerConfig(ep relay.Destination) jetstream.ConsumerConfig
}

// DeadLetters counts a reseller's dead letters.
type DeadLetters interface {
	DLQCount(ctx context.Context, reseller string) (int, error)
}

// Config is what ops is built from.
type Config struct {
	Relay     relay.Config
	Log       zerolog.Logger
	JS        jetstream.JetStream
	Trail     *Trail
	Dir       Directory
	Owners    Owners
	Ingest    Ingest
	Consumers Consumers
	Streams   Streams
	DLQ       DeadLetters
	// Fence waits until copies written directly (replay, snapshots) are on
	// disk; nil: store.AwaitFence under Relay.
	Fence func(ctx context.Context) error
}

// Ops is what an admin does to deliveries: pause and resume, replay,
// reconcile, publish an audited override, and read a destination's status,
// lag and an item's view.
type Ops struct {
	cfg       relay.Config
	log       zerolog.Logger
	js        jetstream.JetStream
	trail     *Trail
	dir       Directory
	owners    Owners
	ingest    Ingest
	consumers Consumers
	streams   Streams
	dlq       DeadLetters
	w         store.Writer
	fence     func(ctx context.Context) error
}

// New makes the ops part.
func New(c Config) *Ops {
	o := &Ops{cfg: c.Relay, log: c.Log, js: c.JS, trail: c.Trail, dir: c.Dir, owners: c.Owners,
		ingest: c.Ingest, consumers: c.Consumers, streams: c.Streams, dlq: c.DLQ, w: store.Writer{JS: c.JS, Cfg: c.Relay}, fence: c.Fence}
	if o.fence == nil {
		o.fence = func(ctx context.Context) error { return store.AwaitFence(ctx, c.Relay) }
	}
	return o
}
