package registry

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/store"
	"github.com/nats-io/nats.go/jetstream"
)

func ownerKey(k events.Key) string {
	return base64.RawURLEncoding.EncodeToString([]byte(k.Seller + "\x00" + k.Account + "\x00" + k.Item))
}

func keyOfOwnerKey(s string) (events.Key, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	parts := strings.Split(string(raw), "\x00")
	if err != nil || len(parts) != 3 {
		return events.Key{}, false
	}
	return events.Key{Seller: parts[0], Account: parts[1], Item: parts[2]}, true
}

// owners is the in-memory view of RELAY_OWNERS.
type owners struct {
	mu sync.RWMutex
	m  map[events.Key]string
}

func (o *owners) get(k events.Key) (string, bool) {
	o.mu.RLock()
	defer o.mu.RUnlock()
	id, ok := o.m[k]
	return id, ok
}

func (r *Owners) applyOwner(e jetstream.KeyValueEntry) {
	k, ok := keyOfOwnerKey(e.Key())
	if !ok {
		return
	}
	r.owners.mu.Lock()
	defer r.owners.mu.Unlock()
	if e.Operation() == jetstream.KeyValuePut {
		r.owners.m[k] = string(e.Value())
	} else {
		delete(r.owners.m, k)
	}
}

// SetOwner makes reseller the owner of an item (an admin correcting or
// seeding ownership). The reseller must be registered on the item's
// account.
func (r *Owners) SetOwner(ctx context.Context, k events.Key, reseller string) error {
	rs, err := r.reseller(reseller)
	if err != nil {
		return err
	}
	if rs.Seller != k.Seller || !contains(rs.Accounts, k.Account) {
		return events.Invalid("reseller", "reseller %q is not registered on account %q of seller %q", reseller, k.Account, k.Seller)
	}
	if _, err := r.ownersKV.Put(ctx, ownerKey(k), []byte(reseller)); err != nil {
		return fmt.Errorf("set owner: %w", store.Classify(err))
	}
	r.audit(ctx, relay.AuditEntry{Action: "owner.set", Target: k.Seller + "/" + k.Account + "/" + k.Item, Detail: map[string]any{"reseller": reseller}})
	return nil
}

// ClearOwner forgets an item's owner: its events go to every reseller of
// the account again.
func (r *Owners) ClearOwner(ctx context.Context, k events.Key) error {
	err := r.ownersKV.Delete(ctx, ownerKey(k))
	if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("clear owner: %w", store.Classify(err))
	}
	r.audit(ctx, relay.AuditEntry{Action: "owner.clear", Target: k.Seller + "/" + k.Account + "/" + k.Item})
	return nil
}

// Owner returns an item's owner, if known.
func (r *Owners) Owner(k events.Key) (string, bool) { return r.owners.get(k) }

// LearnOwner records who ordered an item, unless someone already owns it.
func (r *Owners) LearnOwner(ctx context.Context, k events.Key, reseller string) error {
	_, err := r.ownersKV.Create(ctx, ownerKey(k), []byte(reseller))
	if err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("learn owner: %w", store.Classify(err))
	}
	return nil
}

// Recipients are the resellers an event for k goes to: its owner if the
// owner is still on the account, else every reseller of the account.
func (r *Owners) Recipients(k events.Key) []string {
	all := r.reg.Route(k.Seller, k.Account)
	if owner, ok := r.owners.get(k); ok && contains(all, owner) {
		return []string{owner}
	}
	return all
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func (r *Owners) reseller(id string) (relay.Reseller, error) {
	rs, ok := r.reg.Reseller(id)
	if !ok {
		return relay.Reseller{}, fmt.Errorf("%w: reseller %q", events.ErrNotFound, id)
	}
	return rs, nil
}
