package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/store"
	"github.com/nats-io/nats.go/jetstream"
)

// updateRecord applies change to a registry record with compare-and-set,
// retrying when another writer got there first, and waits until the local
// view has the result.
func updateRecord[T any](ctx context.Context, r *Registry, key, what string, change func(*T) error) (T, error) {
	var zero T
	for range 10 {
		e, err := r.kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return zero, fmt.Errorf("%w: %s", events.ErrNotFound, what)
		}
		if err != nil {
			return zero, store.Classify(err)
		}
		var rec T
		if err := json.Unmarshal(e.Value(), &rec); err != nil {
			return zero, fmt.Errorf("read %s: %w", what, err)
		}
		if err := change(&rec); err != nil {
			return zero, err
		}
		b, _ := json.Marshal(rec)
		rev, err := r.kv.Update(ctx, key, b, e.Revision())
		if store.IsWrongRevision(err) {
			continue
		}
		if err != nil {
			return zero, store.Classify(err)
		}
		return rec, r.reg.WaitRevision(ctx, rev)
	}
	return zero, fmt.Errorf("%w: %s keeps changing; retry", events.ErrConflict, what)
}

func (r *Registry) UpdateReseller(ctx context.Context, id string, change func(*relay.Reseller) error) (relay.Reseller, error) {
	return updateRecord(ctx, r, keyReseller+id, fmt.Sprintf("reseller %q", id), change)
}

func (r *Registry) UpdateSeller(ctx context.Context, id string, change func(*relay.Seller) error) (relay.Seller, error) {
	return updateRecord(ctx, r, keySeller+id, fmt.Sprintf("seller %q", id), change)
}
