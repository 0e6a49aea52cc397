package node

import (
	"context"
	"fmt"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/delivery"
	"github.com/billrelay/billrelay/relay/dlq"
	"github.com/billrelay/billrelay/relay/ingest"
	"github.com/billrelay/billrelay/relay/metrics"
	"github.com/billrelay/billrelay/relay/ops"
	"github.com/billrelay/billrelay/relay/pull"
	"github.com/billrelay/billrelay/relay/push"
	"github.com/billrelay/billrelay/relay/receipts"
	"github.com/billrelay/billrelay/relay/registry"
	"github.com/billrelay/billrelay/relay/route"
	"github.com/billrelay/billrelay/relay/store"
	"github.com/billrelay/billrelay/relay/tenancy"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Node is one running relay: the NATS connection (to the embedded server or
// an external cluster) and the parts wired on it, each a package of its
// own, run as one supervised group. It holds no behaviour besides the
// wiring and the lifecycle: callers reach the parts through its accessors.
type Node struct {
	cfg  relay.Config
	log  zerolog.Logger
	root zerolog.Logger

	ns       *server.Server    // nil when connected to an external NATS
	accounts *tenancy.Accounts // resellers' NATS accounts; nil on an external NATS
	nc       *nats.Conn
	js       jetstream.JetStream
	closed   chan struct{} // closed when the NATS connection is closed
	metrics  *metrics.Metrics

	store    *store.Store
	view     *registry.View
	registry *registry.Registry
	owners   *registry.Owners
	layout   *registry.Layout
	trail    *ops.Trail
	receipts *receipts.Receipts
	dlq      *dlq.DLQ
	puller   *pull.Puller
	ingest   *ingest.Ingest
	ops      *ops.Ops
	pusher   *push.Pusher
	router   *route.Router

	bg     context.Context // lives until Close
	cancel context.CancelFunc
	sup    *supervisor // runs every part
	marked bool        // the data directory carries the running marker
}

// Open starts the embedded server or connects to cfg.NATSURL, provisions
// streams and buckets, opens every part (bounded by ctx) and starts them.
// It returns only when the relay can serve.
func Open(ctx context.Context, cfg relay.Config, log zerolog.Logger) (*Node, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("relay config: %w", err)
	}
	n := &Node{
		cfg: cfg, log: log.With().Str("component", "relay").Logger(), root: log,
		view: registry.NewView(), closed: make(chan struct{}),
		sup: newSupervisor(log.With().Str("component", "relay").Logger()),
	}
	n.bg, n.cancel = context.WithCancel(context.Background())
	n.metrics = newMetrics(n)
	if err := n.connect(); err != nil {
		n.cancel()
		return nil, err
	}
	if err := n.build(ctx); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// Close stops every part, drains the connection and stops the embedded
// server. Anything not yet acknowledged is redelivered after a restart, so
// Close never loses events.
func (n *Node) Close() error {
	n.cancel()
	n.sup.wait()
	if n.nc != nil {
		if err := n.nc.Drain(); err != nil {
			n.nc.Close()
		}
		select {
		case <-n.closed:
		case <-time.After(10 * time.Second):
			n.nc.Close()
		}
	}
	n.shutdownServer()
	if n.marked {
		if err := store.MarkStopped(n.cfg.DataDir); err != nil {
			n.log.Error().Err(err).Msg("could not record a clean stop; the next start re-routes recent envelopes")
		}
	}
	return nil
}

// Ready reports whether the relay can store and deliver: every part runs
// (else a [DownError] names those that do not), the dedupe window is
// loaded and JetStream answers.
func (n *Node) Ready(ctx context.Context) error {
	if err := n.sup.unhealthy(); err != nil {
		return err
	}
	select {
	case <-n.ingest.Ready():
	default:
		return fmt.Errorf("%w: still loading the dedupe window", events.ErrUnavailable)
	}
	if _, err := n.js.AccountInfo(ctx); err != nil {
		return fmt.Errorf("jetstream not usable: %w", store.Classify(err))
	}
	return nil
}

// Failed receives an error, naming the part, once a vital part could not
// be restarted: the relay no longer routes, and the process should exit
// non-zero so that it is started afresh.
func (n *Node) Failed() <-chan error { return n.sup.failed }

// StartPush delivers to every destination with a webhook until the relay
// closes (see push.Pusher.Run).
func (n *Node) StartPush(cfg push.PushConfig) {
	n.pusher.SetPush(cfg)
	n.sup.start(n.bg, part{name: "push", run: n.pusher.Run, vital: true})
}

// Tap delivers every event stored from now on to sink until the relay
// closes (see push.Pusher.Tap).
func (n *Node) Tap(ctx context.Context, name string, sink relay.Sink, cfg delivery.DispatchConfig) error {
	run, err := n.pusher.Tap(ctx, name, sink, cfg)
	if err != nil {
		return err
	}
	n.sup.start(n.bg, part{name: "tap " + name, run: run})
	return nil
}

// Server returns the embedded server (also in leaf mode), or nil on an
// external NATS.
func (n *Node) Server() *server.Server { return n.ns }

// JetStream exposes the relay's JetStream context to in-process adapters.
func (n *Node) JetStream() jetstream.JetStream { return n.js }

// Metrics returns the relay's metrics, for /metrics and for adapters.
func (n *Node) Metrics() *metrics.Metrics { return n.metrics }

// Ingest is where sellers' events and resellers' orders are published.
func (n *Node) Ingest() *ingest.Ingest { return n.ingest }

// Registry holds the sellers' and resellers' registrations.
func (n *Node) Registry() *registry.Registry { return n.registry }

// Inbox serves the pull path: pull and settle.
func (n *Node) Inbox() *pull.Puller { return n.puller }

// Admin is what the admin API does and reads.
func (n *Node) Admin() Admin {
	return Admin{Ops: n.ops, Trail: n.trail, DLQ: n.dlq, Owners: n.owners, Pusher: n.pusher}
}

// Admin gathers the parts the admin API uses; their method sets do not
// overlap in what it asks for.
type Admin struct {
	*ops.Ops
	*ops.Trail
	*dlq.DLQ
	*registry.Owners
	*push.Pusher
}

// Pusher runs the webhook pushers and the taps.
func (n *Node) Pusher() *push.Pusher { return n.pusher }
