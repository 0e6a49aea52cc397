package core

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// kvWatch is the part that keeps an in-memory view of a bucket (the
// registry, the owners) current: open reads every value, so that the relay
// never serves with an empty view, and run applies changes as they come.
type kvWatch struct {
	kv    jetstream.KeyValue
	apply func(jetstream.KeyValueEntry)
	w     jetstream.KeyWatcher
	stop  context.CancelFunc
}

func (k *kvWatch) open(ctx context.Context) error {
	// The watcher outlives open: it is stopped by run, or here on failure.
	wctx, stop := context.WithCancel(context.Background())
	w, err := k.kv.WatchAll(wctx)
	if err != nil {
		stop()
		return fmt.Errorf("watch %s: %w", k.kv.Bucket(), classify(err))
	}
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				stop()
				return fmt.Errorf("load %s: %w", k.kv.Bucket(), errWatchClosed)
			}
			if e == nil { // every value read
				k.w, k.stop = w, stop
				return nil
			}
			k.apply(e)
		case <-ctx.Done():
			stop()
			_ = w.Stop()
			return fmt.Errorf("load %s: %w", k.kv.Bucket(), ctx.Err())
		}
	}
}

func (k *kvWatch) run(ctx context.Context) error {
	defer k.stop()
	defer func() { _ = k.w.Stop() }()
	for {
		select {
		case e, ok := <-k.w.Updates():
			if !ok {
				return fmt.Errorf("watch %s: %w", k.kv.Bucket(), errWatchClosed)
			}
			if e != nil {
				k.apply(e)
			}
		case <-ctx.Done():
			return nil
		}
	}
}

var errWatchClosed = errors.New("watcher closed")
