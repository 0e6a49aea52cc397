package node

import (
	"context"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/ops"
)

func (r *Relay) newOps() {
	r.ops = ops.New(ops.Config{Relay: r.cfg, Log: r.log, JS: r.js, Trail: r.trail, Registry: r.reg, Dir: r.registry,
		Owners: r.owners, Ingest: r.ingest, Consumers: r.puller, Streams: r.streams, DLQ: r.dlq})
}

func (r *Relay) audit(ctx context.Context, e relay.AuditEntry) { r.trail.Note(ctx, e) }

func (r *Relay) opsEvent(ctx context.Context, typ, reseller string, data map[string]any) {
	r.trail.OpsEvent(ctx, typ, reseller, data)
}

func (r *Relay) Audit(ctx context.Context, limit int) ([]relay.AuditEntry, error) {
	return r.trail.Audit(ctx, limit)
}
func (r *Relay) OpsEvents(ctx context.Context, limit int) ([]ops.OpsEvent, error) {
	return r.trail.OpsEvents(ctx, limit)
}
func (r *Relay) PublishOverride(ctx context.Context, o ops.Override) (string, relay.Result, error) {
	return r.ops.PublishOverride(ctx, o)
}
func (r *Relay) Pause(ctx context.Context, id, reason string) error {
	return r.ops.Pause(ctx, id, reason)
}
func (r *Relay) Resume(ctx context.Context, id string) error { return r.ops.Resume(ctx, id) }
func (r *Relay) ResumeSeller(ctx context.Context, id string) error {
	return r.ops.ResumeSeller(ctx, id)
}
func (r *Relay) Reconcile(ctx context.Context, reseller string, fix bool, progress ops.Progress) (ops.ReconcileResult, error) {
	return r.ops.Reconcile(ctx, reseller, fix, progress)
}
func (r *Relay) Replay(ctx context.Context, reseller string, q ops.ReplayRequest, progress ops.Progress) (ops.ReplayResult, error) {
	return r.ops.Replay(ctx, reseller, q, progress)
}
func (r *Relay) ResellerStatus(ctx context.Context, id string) (ops.Status, error) {
	return r.ops.ResellerStatus(ctx, id)
}
func (r *Relay) SellerStatus(ctx context.Context, id string) (ops.Status, error) {
	return r.ops.SellerStatus(ctx, id)
}
func (r *Relay) ResellerLag(ctx context.Context, reseller string) (ops.Lag, error) {
	return r.ops.ResellerLag(ctx, reseller)
}
func (r *Relay) Item(ctx context.Context, k events.Key) (ops.ItemView, error) {
	return r.ops.Item(ctx, k)
}
