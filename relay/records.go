package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/billrelay/billrelay/events"
	"github.com/nats-io/nats.go/jetstream"
)

// updateReseller applies change to a reseller's record with compare-and-set,
// retrying when another writer got there first, and waits until the local
// view has the result.
func (r *Relay) updateReseller(ctx context.Context, id string, change func(*Reseller) error) (Reseller, error) {
	key := keyReseller + id
	for range 10 {
		e, err := r.kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return Reseller{}, fmt.Errorf("%w: reseller %q", events.ErrNotFound, id)
		}
		if err != nil {
			return Reseller{}, classify(err)
		}
		var rs Reseller
		if err := json.Unmarshal(e.Value(), &rs); err != nil {
			return Reseller{}, fmt.Errorf("read reseller %q: %w", id, err)
		}
		if err := change(&rs); err != nil {
			return Reseller{}, err
		}
		b, _ := json.Marshal(rs)
		rev, err := r.kv.Update(ctx, key, b, e.Revision())
		if isWrongRevision(err) {
			continue
		}
		if err != nil {
			return Reseller{}, classify(err)
		}
		return rs, r.reg.waitRevision(ctx, rev)
	}
	return Reseller{}, fmt.Errorf("%w: reseller %q keeps changing; retry", events.ErrConflict, id)
}

func isWrongRevision(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}
