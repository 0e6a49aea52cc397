package node

import (
	"context"
	"fmt"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/dlq"
	ingest "github.com/billrelay/billrelay/relay/ingest"
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
	"golang.org/x/time/rate"
)

// Relay is one running relay: a NATS connection (to the embedded server or
// an external cluster), the provisioned topology, the registry view and the
// router. Every method is safe for concurrent use.
type Relay struct {
	cfg  relay.Config
	log  zerolog.Logger
	root zerolog.Logger

	ns       *server.Server // nil when connected to an external NATS
	nc       *nats.Conn
	js       jetstream.JetStream
	kv       jetstream.KeyValue
	streams  *store.Store
	owners   *registry.Owners
	registry *registry.Registry
	layout   *registry.Layout
	router   *route.Router

	reg      *registry.View
	receipts *receipts.Receipts
	puller   *pull.Puller
	dlq      *dlq.DLQ
	pusher   *push.Pusher
	trail    *ops.Trail
	ops      *ops.Ops
	ingest   *ingest.Ingest
	metrics  *metrics.Metrics

	tenants *tenantAccounts // resellers' NATS accounts; nil on an external NATS

	bg     context.Context // lives until Close
	cancel context.CancelFunc
	sup    *supervisor   // every background part
	closed chan struct{} // closed when the NATS connection is closed
	marked bool          // the data directory carries the running marker
}

// Open starts the embedded server or connects to cfg.NATSURL, provisions
// streams and buckets, loads the registry and starts the router. It returns
// only when the relay can serve.
func Open(ctx context.Context, cfg relay.Config, log zerolog.Logger) (*Relay, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("relay config: %w", err)
	}
	r := &Relay{
		cfg: cfg, log: log.With().Str("component", "relay").Logger(), root: log,
		reg: registry.NewView(), closed: make(chan struct{}),
		sup: newSupervisor(log.With().Str("component", "relay").Logger()),
	}
	r.metrics = newMetrics(r)
	if err := r.connect(); err != nil {
		return nil, err
	}
	r.trail = ops.NewTrail(r.js, r.log)
	r.newDLQ()
	r.ingest = ingest.New(cfg, r.log, r.js, r.metrics, r, r.streamInfo)
	bg, cancel := context.WithCancel(context.Background())
	r.bg, r.cancel = bg, cancel
	if err := r.start(ctx, bg); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

func (r *Relay) start(ctx, bg context.Context) error {
	if err := r.waitJetStream(ctx); err != nil {
		return err
	}
	steps := []func(context.Context) error{r.loadReceipts, r.loadAckKey}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return err
		}
	}
	if err := r.watchRegistry(ctx, bg); err != nil {
		return err
	}
	if err := r.provisionDelivery(ctx); err != nil {
		return err
	}
	if err := r.watchOwners(ctx, bg); err != nil {
		return err
	}
	if err := r.openPush(ctx); err != nil {
		return err
	}
	for _, start := range []func(ctx, bg context.Context) error{
		r.startJournaler, r.startReceiptWriter, r.startReceiptIntake, r.startTenantGuard, r.loadDedupe, r.startCommitter, r.startDeadWatch, r.startRouter,
	} {
		if err := start(ctx, bg); err != nil {
			return err
		}
	}
	return nil
}

func (r *Relay) connect() error {
	opts := []nats.Option{
		nats.Name("billrelay"),
		nats.MaxReconnects(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			r.log.Warn().Err(err).Msg("nats disconnected")
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			r.log.Info().Str("nats_url", nc.ConnectedUrlRedacted()).Msg("nats reconnected")
		}),
		nats.ClosedHandler(func(*nats.Conn) { close(r.closed) }),
		nats.ErrorHandler(r.natsError()),
	}
	url := r.cfg.NATSURL
	if url == "" {
		emb, err := tenancy.Start(r.cfg, store.SyncIntervalOf(r.cfg), r.reg, r.root)
		if err != nil {
			return err
		}
		r.reg.OnReseller = emb.Accounts().Changed
		r.tenants = &tenantAccounts{emb.Accounts()}
		r.ns = emb.Server()
		opts = append(opts, emb.ConnectOptions()...)
	} else {
		// The servers may still be starting: keep trying; waitJetStream
		// reports how long it has waited.
		opts = append(opts, nats.RetryOnFailedConnect(true))
		if r.cfg.NATSCredsFile != "" {
			opts = append(opts, nats.UserCredentials(r.cfg.NATSCredsFile))
		}
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		r.shutdownServer()
		return fmt.Errorf("connect to nats: %w", err)
	}
	js, err := jetstream.New(nc)
	if r.cfg.NATSDomain != "" {
		js, err = jetstream.NewWithDomain(nc, r.cfg.NATSDomain)
	}
	if err != nil {
		nc.Close()
		r.shutdownServer()
		return fmt.Errorf("jetstream context: %w", err)
	}
	r.nc, r.js = nc, js
	r.streams = store.New(js, r.cfg, r.log, r.reg.AllResellers)
	return nil
}

// natsError logs what the connection reports asynchronously, such as a
// reseller's intake queue dropping its flood (slow consumer), at most once
// a second: a flood must not become a flood of log lines.
func (r *Relay) natsError() nats.ErrHandler {
	every := rate.NewLimiter(1, 1)
	return func(_ *nats.Conn, sub *nats.Subscription, err error) {
		if !every.Allow() {
			return
		}
		ev := r.log.Warn().Err(err)
		if sub != nil {
			ev = ev.Str("subject", sub.Subject)
		}
		ev.Msg("nats connection reported an error")
	}
}

// Close stops the router and watchers, drains the connection and stops the
// embedded server. Anything not yet acknowledged is redelivered after a
// restart, so Close never loses events.
func (r *Relay) Close() error {
	if r.cancel != nil {
		r.cancel()
	}
	r.sup.wait()
	if r.nc != nil {
		if err := r.nc.Drain(); err != nil {
			r.nc.Close()
		}
		select {
		case <-r.closed:
		case <-time.After(10 * time.Second):
			r.nc.Close()
		}
	}
	r.shutdownServer()
	if r.marked {
		if err := r.markStopped(); err != nil {
			r.log.Error().Err(err).Msg("could not record a clean stop; the next start re-routes recent envelopes")
		}
	}
	return nil
}

func (r *Relay) shutdownServer() {
	if r.ns != nil {
		r.ns.Shutdown()
		r.ns.WaitForShutdown()
	}
}

// Ready reports whether the relay can store and deliver: every background
// part runs (else a [DownError] names those that do not) and JetStream
// answers.
func (r *Relay) Ready(ctx context.Context) error {
	if err := r.sup.unhealthy(); err != nil {
		return err
	}
	select {
	case <-r.ingest.Ready():
	default:
		return fmt.Errorf("%w: still loading the dedupe window", events.ErrUnavailable)
	}
	if _, err := r.js.AccountInfo(ctx); err != nil {
		return fmt.Errorf("jetstream not usable: %w", store.Classify(err))
	}
	return nil
}

// Failed receives an error once a vital background part could not be
// restarted: the relay no longer routes, and the process should exit
// non-zero so that it is started afresh.
func (r *Relay) Failed() <-chan error { return r.sup.failed }

// Server returns the embedded server (also in leaf mode), or nil on an
// external NATS.
func (r *Relay) Server() *server.Server { return r.ns }

// JetStream exposes the relay's JetStream context to in-process adapters.
func (r *Relay) JetStream() jetstream.JetStream { return r.js }

// waitJetStream provisions the streams once JetStream can place them: at
// once on the embedded server; on a cluster that is still forming (no meta
// leader, too few peers for the replicas) or not yet reached through the
// leaf connection it retries for up to clusterWait, so that relays and
// servers may start in any order.
func (r *Relay) waitJetStream(ctx context.Context) error {
	if r.cfg.LocalJetStream() {
		return r.provision(ctx)
	}
	ctx, cancel := context.WithTimeout(ctx, clusterWait)
	defer cancel()
	backoff := 100 * time.Millisecond
	for {
		attempt, done := context.WithTimeout(ctx, 10*time.Second) // a cluster without a leader does not answer
		err := r.provision(attempt)
		done()
		if err == nil {
			return nil
		}
		r.log.Warn().Err(err).Dur("retry_in", backoff).Msg("jetstream not ready for the relay's streams")
		select {
		case <-ctx.Done():
			return fmt.Errorf("jetstream not ready after %s: %w", clusterWait, err)
		case <-time.After(backoff):
			backoff = min(2*backoff, 5*time.Second)
		}
	}
}

const clusterWait = 2 * time.Minute
