package dlq

import (
	"context"

	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/metrics"
	"github.com/billrelay/billrelay/relay/registry"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Config is what the dead letters are built from.
type Config struct {
	Relay    relay.Config
	Log      zerolog.Logger
	JS       jetstream.JetStream
	Metrics  *metrics.Metrics
	Registry *registry.View
	// OpsEvent tells on-call (the ops part's events).
	OpsEvent func(ctx context.Context, typ, reseller string, data map[string]any)
	// Audit records an admin's redrive.
	Audit func(ctx context.Context, e relay.AuditEntry)
	// Tail reads the last limit messages of stream matching filter.
	Tail func(ctx context.Context, stream, filter string, limit int) ([]*jetstream.RawStreamMsg, error)
}

// DLQ keeps copies of the events that ran out of deliveries or were
// terminated, one per death however many paths report it, lists them for
// ops and redrives them; its Watch turns the captured JetStream advisories
// into those copies.
type DLQ struct {
	cfg      relay.Config
	log      zerolog.Logger
	js       jetstream.JetStream
	metrics  *metrics.Metrics
	reg      *registry.View
	opsEvent func(ctx context.Context, typ, reseller string, data map[string]any)
	audit    func(ctx context.Context, e relay.AuditEntry)
	tail     func(ctx context.Context, stream, filter string, limit int) ([]*jetstream.RawStreamMsg, error)
}

// New makes the dead letters.
func New(c Config) *DLQ {
	return &DLQ{cfg: c.Relay, log: c.Log, js: c.JS, metrics: c.Metrics, reg: c.Registry,
		opsEvent: c.OpsEvent, audit: c.Audit, tail: c.Tail}
}
