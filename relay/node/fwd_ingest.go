package node

import (
	"context"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/ingest"
	"github.com/nats-io/nats.go"
)

// Publish stores events for a principal (see ingest.Ingest.Publish).
func (r *Relay) Publish(ctx context.Context, p relay.Principal, evs []events.Event) ([]relay.Result, error) {
	return r.ingest.Publish(ctx, p, evs)
}

// Authorize checks that p may publish every event.
func (r *Relay) Authorize(p relay.Principal, evs []events.Event) error {
	return r.ingest.Authorize(p, evs)
}

// LearnOwner records reseller as the owner of k (ingest.Directory).
func (r *Relay) LearnOwner(ctx context.Context, k events.Key, reseller string) error {
	return r.learnOwner(ctx, k, reseller)
}

func (r *Relay) eventMsg(p relay.Principal, e *events.Event) (*nats.Msg, error) {
	return r.ingest.EventMsg(p, e)
}

func (r *Relay) store(ctx context.Context, recs []ingest.Record) ([]relay.Result, error) {
	return r.ingest.Store(ctx, recs)
}

func (r *Relay) startCommitter(ctx, bg context.Context) error {
	return r.sup.open(ctx, bg, part{name: "committer", run: r.ingest.RunCommitter, vital: true})
}

func (r *Relay) loadDedupe(ctx, bg context.Context) error {
	tail, err := r.ingest.OpenDedupe(ctx)
	if err != nil || tail == nil {
		return err
	}
	if err := r.sup.open(ctx, bg, part{name: "dedupe", run: tail, vital: true}); err != nil {
		return err
	}
	return r.ingest.AwaitDedupe(ctx)
}
