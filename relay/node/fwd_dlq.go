package node

import (
	"context"

	"github.com/billrelay/billrelay/relay/dlq"
	"github.com/billrelay/billrelay/relay/store"
	"github.com/nats-io/nats.go/jetstream"
)

// startDeadWatch makes the dead letters and runs their advisory watch, and
// the puller's watch of final deliveries.
func (r *Relay) startDeadWatch(ctx, bg context.Context) error {
	dw := r.dlq.Watch()
	if err := r.sup.open(ctx, bg, part{name: "dead-letters", open: dw.Open, run: dw.Run, vital: true}); err != nil {
		return err
	}
	return r.sup.open(ctx, bg, part{name: "final-deliveries", run: r.puller.Finals(), vital: true})
}

func (r *Relay) newDLQ() {
	r.dlq = dlq.New(dlq.Config{Relay: r.cfg, Log: r.log, JS: r.js, Metrics: r.metrics, Registry: r.reg,
		OpsEvent: r.trail.OpsEvent, Audit: r.trail.Note, Tail: r.trail.Tail})
}

func (r *Relay) deadLetter(ctx context.Context, o dlq.Origin, body []byte, attempts int, reason string) error {
	return r.dlq.DeadLetter(ctx, o, body, attempts, reason)
}

func (r *Relay) getMsg(ctx context.Context, stream string, seq uint64) (*jetstream.RawStreamMsg, error) {
	return store.GetMsg(ctx, r.js, stream, seq)
}

// DLQCount counts a reseller's dead letters.
func (r *Relay) DLQCount(ctx context.Context, reseller string) (int, error) {
	return r.dlq.DLQCount(ctx, reseller)
}

// DeadLetters lists dead letters (see dlq.DLQ.DeadLetters).
func (r *Relay) DeadLetters(ctx context.Context, reseller string, all bool, limit int) ([]dlq.DeadLetter, error) {
	return r.dlq.DeadLetters(ctx, reseller, all, limit)
}

// Redrive puts dead letters back on their reseller's stream.
func (r *Relay) Redrive(ctx context.Context, reseller string, ids []string) (int, error) {
	return r.dlq.Redrive(ctx, reseller, ids)
}
