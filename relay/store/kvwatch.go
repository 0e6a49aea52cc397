package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// KVWatch is the part that keeps an in-memory view of a bucket (the
// registry, the owners) current: open reads every value, so that the relay
// never serves with an empty view, and run applies changes as they come.
type KVWatch struct {
	KV    jetstream.KeyValue
	Apply func(jetstream.KeyValueEntry)
	w     jetstream.KeyWatcher
	stop  context.CancelFunc
}

func (k *KVWatch) Open(ctx context.Context) error {
	// The watcher outlives open: it is stopped by run, or here on failure.
	wctx, stop := context.WithCancel(context.Background())
	w, err := k.KV.WatchAll(wctx)
	if err != nil {
		stop()
		return fmt.Errorf("watch %s: %w", k.KV.Bucket(), Classify(err))
	}
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				stop()
				return fmt.Errorf("load %s: %w", k.KV.Bucket(), errWatchClosed)
			}
			if e == nil { // every value read
				k.w, k.stop = w, stop
				return nil
			}
			k.Apply(e)
		case <-ctx.Done():
			stop()
			_ = w.Stop()
			return fmt.Errorf("load %s: %w", k.KV.Bucket(), ctx.Err())
		}
	}
}

func (k *KVWatch) Run(ctx context.Context) error {
	defer k.stop()
	defer func() { _ = k.w.Stop() }()
	for {
		select {
		case e, ok := <-k.w.Updates():
			if !ok {
				return fmt.Errorf("watch %s: %w", k.KV.Bucket(), errWatchClosed)
			}
			if e != nil {
				k.Apply(e)
			}
		case <-ctx.Done():
			return nil
		}
	}
}

var errWatchClosed = errors.New("watcher closed")
