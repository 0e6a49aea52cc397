package registry

import (
	"context"
	"sync"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/store"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Auditor records who changed what (the ops part's audit trail).
type Auditor func(ctx context.Context, e relay.AuditEntry)

// ConsumerSync brings a destination's consumer in line with its delivery
// mode (pull, or pushed and pinned) after a registration or a webhook
// change.
type ConsumerSync func(ctx context.Context, ep relay.Destination) error

// Registry is the registry of sellers and resellers: records in
// BucketRegistry under compare-and-set, an in-memory View kept current by
// a KV watch, tokens, webhook, hub, notify and callback settings. A
// reseller's delivery stream is chosen and prepared by the Layout.
type Registry struct {
	cfg          relay.Config
	log          zerolog.Logger
	kv           jetstream.KeyValue
	reg          *View
	layout       *Layout
	audit        Auditor
	syncConsumer ConsumerSync
}

// New makes the registry on its bucket; view is the in-memory view the
// embedded server's authentication already reads.
func New(cfg relay.Config, log zerolog.Logger, kv jetstream.KeyValue, view *View, layout *Layout, audit Auditor, sync ConsumerSync) *Registry {
	return &Registry{cfg: cfg, log: log, kv: kv, reg: view, layout: layout, audit: audit, syncConsumer: sync}
}

// Watch is the part that keeps the view current: Open loads every record,
// Run applies changes.
func (r *Registry) Watch() *store.KVWatch {
	return &store.KVWatch{KV: r.kv, Apply: func(e jetstream.KeyValueEntry) { r.reg.Apply(e, r.log) }}
}

// Owners knows which reseller owns an item (learned from its orders, or set
// by an admin): an owned item's events go to its owner alone.
type Owners struct {
	cfg      relay.Config
	log      zerolog.Logger
	ownersKV jetstream.KeyValue
	owners   *owners
	reg      *View
	audit    Auditor
}

// NewOwners makes the owners part on its bucket (see OwnersBucket).
func NewOwners(cfg relay.Config, log zerolog.Logger, kv jetstream.KeyValue, view *View, audit Auditor) *Owners {
	return &Owners{cfg: cfg, log: log, ownersKV: kv, owners: &owners{m: map[events.Key]string{}}, reg: view, audit: audit}
}

// Watch is the part that keeps the owners current.
func (r *Owners) Watch() *store.KVWatch { return &store.KVWatch{KV: r.ownersKV, Apply: r.applyOwner} }

// Streams is what the layout needs from the store to shape a delivery
// stream.
type Streams interface {
	StreamInfo(ctx context.Context, name string) (*jetstream.StreamInfo, error)
	DeliveryConfig(name string, subjects []string) jetstream.StreamConfig
	FitHeld(sc *jetstream.StreamConfig, info *jetstream.StreamInfo)
	EnsureStream(ctx context.Context, sc jetstream.StreamConfig) error
}

// Layout places resellers on delivery streams (shards) and keeps each
// stream's subjects covering its resellers.
type Layout struct {
	cfg      relay.Config
	log      zerolog.Logger
	reg      *View
	streams  Streams
	layoutMu sync.Mutex // one change of the delivery streams at a time
}

// NewLayout makes the layout over the view.
func NewLayout(cfg relay.Config, log zerolog.Logger, view *View, streams Streams) *Layout {
	return &Layout{cfg: cfg, log: log, reg: view, streams: streams}
}
