package core

import (
	"context"

	"github.com/billrelay/billrelay/relay/store"
	"github.com/nats-io/nats.go"
)

func (r *Relay) derivedLazy() bool               { return store.DerivedLazy(r.cfg) }
func (r *Relay) lazySubject(subject string) bool { return store.LazySubject(r.cfg, subject) }
func (r *Relay) awaitFence(ctx context.Context) error {
	return store.AwaitFence(ctx, r.cfg)
}
func (r *Relay) markRunning() (bool, error) { return store.MarkRunning(r.cfg.DataDir) }
func (r *Relay) markStopped() error         { return store.MarkStopped(r.cfg.DataDir) }
func (r *Relay) storeOrdered(ctx context.Context, msgs []*nats.Msg) ([]uint64, error) {
	return store.Writer{JS: r.js, Cfg: r.cfg}.Ordered(ctx, msgs)
}
