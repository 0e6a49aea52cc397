package core

import (
	"context"
	"fmt"

	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/store"
)

// syncConsumer brings an endpoint's consumer in line with its delivery mode.
func (r *Relay) syncConsumer(ctx context.Context, ep relay.Destination) error {
	if _, err := r.js.CreateOrUpdateConsumer(ctx, ep.Stream, r.consumerConfig(ep)); err != nil {
		return fmt.Errorf("update consumer of %s: %w", ep, store.Classify(err))
	}
	return nil
}
