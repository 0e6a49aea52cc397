package push

import (
	"context"
	"fmt"

	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/store"
	"github.com/nats-io/nats.go/jetstream"
)

func (r *Pusher) openGates(ctx context.Context) error {
	kv, err := r.buckets.EnsureBucket(ctx, jetstream.KeyValueConfig{
		Bucket: relay.BucketGates, Description: "per item: a failed push delivery its later events wait for",
		Storage: jetstream.FileStorage, Replicas: r.cfg.Replicas, MaxBytes: store.MaxBytes(&r.cfg, relay.BucketGates, 0),
	})
	if err != nil {
		return fmt.Errorf("provision bucket %s: %w", relay.BucketGates, err)
	}
	r.gates = kv
	return nil
}
