package store

import (
	"context"
	"fmt"

	"github.com/billrelay/billrelay/relay"
)

// SyncConsumer brings an endpoint's consumer in line with its delivery mode.
func (r *Store) SyncConsumer(ctx context.Context, ep relay.Destination) error {
	if _, err := r.js.CreateOrUpdateConsumer(ctx, ep.Stream, r.ConsumerConfig(ep)); err != nil {
		return fmt.Errorf("update consumer of %s: %w", ep, Classify(err))
	}
	return nil
}
