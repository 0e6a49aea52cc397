package node

import (
	"context"

	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/store"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func (r *Relay) derivedLazy() bool          { return store.DerivedLazy(r.cfg) }
func (r *Relay) markRunning() (bool, error) { return store.MarkRunning(r.cfg.DataDir) }
func (r *Relay) markStopped() error         { return store.MarkStopped(r.cfg.DataDir) }
func (r *Relay) storeOrdered(ctx context.Context, msgs []*nats.Msg) ([]uint64, error) {
	return store.Writer{JS: r.js, Cfg: r.cfg}.Ordered(ctx, msgs)
}

func (r *Relay) provision(ctx context.Context) error {
	kv, err := r.streams.Provision(ctx)
	if err != nil {
		return err
	}
	r.kv = kv
	return nil
}
func (r *Relay) deliveryConfig(name string, subjects []string) jetstream.StreamConfig {
	return r.streams.DeliveryConfig(name, subjects)
}
func (r *Relay) ensureBucket(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	return r.streams.EnsureBucket(ctx, cfg)
}
func (r *Relay) ensureStream(ctx context.Context, sc jetstream.StreamConfig) error {
	return r.streams.EnsureStream(ctx, sc)
}
func (r *Relay) fitHeld(sc *jetstream.StreamConfig, info *jetstream.StreamInfo) {
	r.streams.FitHeld(sc, info)
}
func (r *Relay) streamInfo(ctx context.Context, name string) (*jetstream.StreamInfo, error) {
	return r.streams.StreamInfo(ctx, name)
}
func (r *Relay) syncConsumer(ctx context.Context, ep relay.Destination) error {
	return r.streams.SyncConsumer(ctx, ep)
}
func (r *Relay) consumerConfig(ep relay.Destination) jetstream.ConsumerConfig {
	return r.streams.ConsumerConfig(ep)
}

func (r *Relay) awaitFence(ctx context.Context) error { return store.AwaitFence(ctx, r.cfg) }
