package ingest

import (
	"context"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/metrics"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Directory is what ingest asks the registry: who a reseller is, who owns
// an item, and to record a reseller as the owner of an item it ordered.
type Directory interface {
	Reseller(id string) (relay.Reseller, error)
	Owner(k events.Key) (string, bool)
	LearnOwner(ctx context.Context, k events.Key, reseller string) error
}

// StreamInfo reads a stream's state (for the room left in ORDERS).
type StreamInfo func(ctx context.Context, name string) (*jetstream.StreamInfo, error)

// Ingest authorizes, deduplicates and stores events: each Publish joins a
// commit group (one INGEST message, one fsync, per group of requests)
// that the router later expands. It owns the dedupe window, the
// committer's queue and the order bounds.
type Ingest struct {
	cfg        relay.Config
	log        zerolog.Logger
	js         jetstream.JetStream
	metrics    *metrics.Metrics
	dir        Directory
	streamInfo StreamInfo

	dedupe     *dedupe
	commits    chan commitReq
	orderRate  *tokenBuckets
	ordersRoom roomCheck
}

// New makes the ingest part; Open loads the dedupe window and RunCommitter
// stores the groups.
func New(cfg relay.Config, log zerolog.Logger, js jetstream.JetStream, m *metrics.Metrics, dir Directory, info StreamInfo) *Ingest {
	return &Ingest{
		cfg: cfg, log: log, js: js, metrics: m, dir: dir, streamInfo: info,
		dedupe:    newDedupe(cfg.DedupeWindow),
		commits:   make(chan commitReq, 4096),
		orderRate: newTokenBuckets(cfg.OrderRate, cfg.OrderBurst),
	}
}

// Ready is closed once the dedupe window is loaded: before that an id sent
// again could be stored twice.
func (r *Ingest) Ready() <-chan struct{} { return r.dedupe.ready }

var _ relay.Publisher = (*Ingest)(nil)
