package node

import (
	"context"
	"fmt"

	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/dlq"
	"github.com/billrelay/billrelay/relay/ingest"
	"github.com/billrelay/billrelay/relay/ops"
	"github.com/billrelay/billrelay/relay/pull"
	"github.com/billrelay/billrelay/relay/push"
	"github.com/billrelay/billrelay/relay/receipts"
	"github.com/billrelay/billrelay/relay/registry"
	"github.com/billrelay/billrelay/relay/route"
	"github.com/billrelay/billrelay/relay/store"
	"github.com/nats-io/nats.go/jetstream"
)

// directory is the registry and the owners together: what ingest
// (ingest.Directory) and the router (route.Recipients) ask of them.
type directory struct {
	*registry.Registry
	*registry.Owners
}

// build makes every part in the order they depend on each other, opens
// each (bounded by ctx) and hands the long-running ones to the supervisor.
// A part that cannot open fails Open with its name.
func (n *Node) build(ctx context.Context) error {
	kv, err := provision(ctx, n)
	if err != nil {
		return err
	}
	n.trail = ops.NewTrail(n.js, n.log)
	n.layout = registry.NewLayout(n.cfg, n.log, n.view, n.store)
	n.registry = registry.New(n.cfg, n.log, kv, n.view, n.layout, n.trail.Note, n.store.SyncConsumer)
	w := n.registry.Watch()
	if err := n.run(ctx, "registry", w.Open, w.Run, true); err != nil {
		return err
	}
	if err := n.layout.ProvisionDelivery(ctx); err != nil {
		return err
	}
	if err := n.openOwners(ctx); err != nil {
		return err
	}
	dir := directory{n.registry, n.owners}
	n.receipts = receipts.New(receipts.Config{Relay: n.cfg, Log: n.log, NC: n.nc, JS: n.js, Metrics: n.metrics,
		Registry: n.view, Stopping: n.bg.Done(),
		GetMsg: func(ctx context.Context, stream string, seq uint64) (*jetstream.RawStreamMsg, error) {
			return store.GetMsg(ctx, n.js, stream, seq)
		}})
	if err := n.receipts.Load(ctx); err != nil {
		return err
	}
	n.dlq = dlq.New(dlq.Config{Relay: n.cfg, Log: n.log, JS: n.js, Metrics: n.metrics, Registry: n.view,
		OpsEvent: n.trail.OpsEvent, Audit: n.trail.Note, Tail: n.trail.Tail})
	n.puller = pull.New(pull.Config{Relay: n.cfg, Log: n.log, NC: n.nc, JS: n.js, KV: kv, Metrics: n.metrics,
		Receipts: n.receipts, Dir: n.registry, DeadLetter: n.deadLetter})
	if err := n.puller.Open(ctx); err != nil {
		return err
	}
	n.ingest = ingest.New(n.cfg, n.log, n.js, n.metrics, dir, n.store.StreamInfo)
	n.ops = ops.New(ops.Config{Relay: n.cfg, Log: n.log, JS: n.js, Trail: n.trail, Dir: n.registry,
		Owners: n.owners, Ingest: n.ingest, Consumers: n.puller, Streams: n.store, DLQ: n.dlq})
	n.pusher = push.New(push.Config{Relay: n.cfg, Log: n.log, JS: n.js, Registry: n.view, Dir: n.registry,
		Receipts: n.receipts, Buckets: n.store, Start: n.startSub,
		DeadLetter: n.dlq.DeadLetter, Pause: n.ops.PauseDestination, OpsEvent: n.trail.OpsEvent})
	if err := n.pusher.Open(ctx); err != nil {
		return err
	}
	return n.runParts(ctx, dir)
}

// runParts starts the long-running parts, each opened first.
func (n *Node) runParts(ctx context.Context, dir directory) error {
	in := n.receipts.Intake()
	if n.accounts != nil {
		n.accounts.SetShared(in.Resubscribe)
	}
	dw := n.dlq.Watch()
	steps := []struct {
		name      string
		open, run func(context.Context) error
		vital     bool
	}{
		{"journal", nil, n.receipts.RunJournaler, true},
		{"receipts", nil, n.receipts.RunWriter, true},
		{"intake", in.Open, in.Run, true},
		{"committer", nil, n.ingest.RunCommitter, true},
		{"dead-letters", dw.Open, dw.Run, true},
		{"final-deliveries", nil, n.puller.Finals(), true},
	}
	if n.accounts != nil {
		steps = append(steps, struct {
			name      string
			open, run func(context.Context) error
			vital     bool
		}{"tenant guard", n.accounts.Open, n.accounts.Run, false})
	}
	for _, s := range steps {
		if err := n.run(ctx, s.name, s.open, s.run, s.vital); err != nil {
			return err
		}
	}
	if err := n.loadDedupe(ctx); err != nil {
		return err
	}
	return n.startRouter(ctx, dir)
}

// run opens a part (bounded by ctx) and has the supervisor run it until
// the node closes.
func (n *Node) run(ctx context.Context, name string, open, run func(context.Context) error, vital bool) error {
	return n.sup.open(ctx, n.bg, part{name: name, open: open, run: run, vital: vital})
}

// startSub runs a part a part starts itself (a pusher per destination)
// until ctx ends: restarted when it fails, named by Ready meanwhile.
func (n *Node) startSub(ctx context.Context, name string, run func(context.Context) error) <-chan struct{} {
	return n.sup.start(ctx, part{name: name, run: run})
}

func (n *Node) openOwners(ctx context.Context) error {
	kv, err := n.store.EnsureBucket(ctx, jetstream.KeyValueConfig{
		Bucket: relay.BucketOwners, Description: "which reseller owns an item (learned from its orders)",
		Storage: jetstream.FileStorage, Replicas: n.cfg.Replicas, MaxBytes: store.MaxBytes(&n.cfg, relay.BucketOwners, 0),
	})
	if err != nil {
		return fmt.Errorf("provision bucket %s: %w", relay.BucketOwners, err)
	}
	n.owners = registry.NewOwners(n.cfg, n.log, kv, n.view, n.trail.Note)
	w := n.owners.Watch()
	return n.run(ctx, "owners", w.Open, w.Run, true)
}

// loadDedupe loads the dedupe window before the relay serves: an id sent
// again could otherwise be stored twice.
func (n *Node) loadDedupe(ctx context.Context) error {
	tail, err := n.ingest.OpenDedupe(ctx)
	if err != nil || tail == nil {
		return err
	}
	if err := n.run(ctx, "dedupe", nil, tail, true); err != nil {
		return err
	}
	return n.ingest.AwaitDedupe(ctx)
}

// startRouter opens the router after marking the data directory as in use
// (when the derived streams sit behind the fence): a stop that is not
// clean makes the next router rewind.
func (n *Node) startRouter(ctx context.Context, dir directory) error {
	_ = n.js.DeleteConsumer(ctx, relay.StreamEvents, route.ConsumerName) // the router of earlier versions read EVENTS
	unclean := false
	if store.DerivedLazy(n.cfg) {
		var err error
		if unclean, err = store.MarkRunning(n.cfg.DataDir); err != nil {
			return err
		}
		n.marked = true
	}
	n.router = route.New(route.Config{Relay: n.cfg, Log: n.log, JS: n.js, Metrics: n.metrics,
		Dir: dir, Layout: n.layout, Consumer: route.ConsumerConfig(n.cfg), Unclean: unclean})
	return n.run(ctx, "router", n.router.Open, n.router.Run, true)
}

func (n *Node) deadLetter(ctx context.Context, stream, consumer, subject string, seq uint64, body []byte, attempts int, reason string) error {
	return n.dlq.DeadLetter(ctx, dlq.Origin{Stream: stream, Consumer: consumer, Seq: seq, Subject: subject}, body, attempts, reason)
}
