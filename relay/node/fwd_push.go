package node

import (
	"context"

	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/delivery"
	"github.com/billrelay/billrelay/relay/push"
)

// openPush makes the pushers and provisions their buckets.
func (r *Relay) openPush(ctx context.Context) error {
	r.newOps()
	r.pusher = push.New(push.Config{Relay: r.cfg, Log: r.log, JS: r.js, Registry: r.reg, Dir: r.registry,
		Receipts: r.receipts, Buckets: r.streams,
		Start: func(ctx context.Context, name string, run func(context.Context) error) <-chan struct{} {
			return r.sup.start(ctx, part{name: name, run: run})
		},
		DeadLetter: r.deadLetter, Pause: r.ops.PauseDestination, OpsEvent: r.trail.OpsEvent})
	return r.pusher.Open(ctx)
}

// StartPush delivers to every destination with a webhook until the relay
// closes (see push.Pusher.Run).
func (r *Relay) StartPush(cfg push.PushConfig) {
	r.pusher.SetPush(cfg)
	r.sup.start(r.bg, part{name: "push", run: r.pusher.Run, vital: true})
}

// Tap delivers every event stored from now on to sink until the relay
// closes (see push.Pusher.Tap).
func (r *Relay) Tap(ctx context.Context, name string, sink relay.Sink, cfg delivery.DispatchConfig) error {
	run, err := r.pusher.Tap(ctx, name, sink, cfg)
	if err != nil {
		return err
	}
	r.sup.start(r.bg, part{name: "tap " + name, run: run})
	return nil
}

// WebhookStatus is the circuit status of a webhook this relay pushes to.
func (r *Relay) WebhookStatus(id string) (delivery.DeliveryStatus, bool) {
	return r.pusher.WebhookStatus(id)
}

// Done reports whether key was marked done.
func (r *Relay) Done(ctx context.Context, key string) (bool, error) { return r.pusher.Done(ctx, key) }

// MarkDone marks key done.
func (r *Relay) MarkDone(ctx context.Context, key string) error { return r.pusher.MarkDone(ctx, key) }
