package delivery

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay/store"
	"github.com/nats-io/nats.go/jetstream"
)

// ConsumerSource reads a durable consumer the way the pull API does: it
// asks JetStream for no more than the dispatcher has room for, so nothing
// waits unseen in a client buffer while its ack timer runs (nats.go #1929).
type ConsumerSource struct {
	Consumer jetstream.Consumer
}

// Fetch implements [Source].
func (s ConsumerSource) Fetch(ctx context.Context, max int, wait time.Duration) ([]Delivered, error) {
	msgs, err := store.Fetch(ctx, s.Consumer, max, wait, nil)
	return delivered(ctx, msgs, err)
}

// delivered hands msgs to the dispatcher, or back to JetStream at once
// when the caller left.
func delivered(ctx context.Context, msgs []jetstream.Msg, err error) ([]Delivered, error) {
	if err != nil && ctx.Err() != nil {
		store.NakAll(msgs)
		return nil, ctx.Err()
	}
	out := make([]Delivered, len(msgs))
	for i, m := range msgs {
		out[i] = m
	}
	return out, err
}

// GroupSource reads a consumer pinned to one relay of a priority group.
// FetchNoWait cannot name a group, so "what is there now" is a pull that
// expires after groupPoll. A relay that is not pinned gets nothing (its
// pulls wait in line) until the pinned one stops pulling; then JetStream
// pins it, and TookOver tells its dispatcher to reload the delivery gates
// the other relay wrote.
type GroupSource struct {
	Cons     jetstream.Consumer
	Group    string
	pin      string
	tookOver bool
}

const groupPoll = 20 * time.Millisecond

// Fetch implements [Source].
func (s *GroupSource) Fetch(ctx context.Context, max int, wait time.Duration) ([]Delivered, error) {
	msgs, err := s.fetch(ctx, max, groupPoll)
	if err == nil && len(msgs) == 0 && wait > 0 {
		msgs, err = s.fetch(ctx, 1, wait)
		if err == nil && len(msgs) == 1 && max > 1 {
			var more []jetstream.Msg
			more, err = s.fetch(ctx, max-1, groupPoll)
			msgs = append(msgs, more...)
		}
	}
	if errors.Is(err, jetstream.ErrPinIDMismatch) {
		err = nil // another relay holds the pin now; keep asking
	}
	for _, m := range msgs {
		if pin := m.Headers().Get(headerPinID); pin != "" && pin != s.pin {
			s.pin, s.tookOver = pin, true
		}
	}
	return delivered(ctx, msgs, err)
}

func (s *GroupSource) fetch(ctx context.Context, n int, wait time.Duration) ([]jetstream.Msg, error) {
	return store.Collect(ctx, func() (jetstream.MessageBatch, error) {
		return s.Cons.Fetch(n, jetstream.FetchMaxWait(wait), jetstream.FetchPriorityGroup(s.Group))
	})
}

// TookOver reports, once, that this relay was (newly) pinned.
func (s *GroupSource) TookOver() bool {
	t := s.tookOver
	s.tookOver = false
	return t
}

// headerPinID carries the pin JetStream gave the pulling client.
const headerPinID = "Nats-Pin-Id"

// KVGates keeps one reseller's gates in the RELAY_GATES bucket: written
// only when a delivery fails, so they cost nothing while all is well.
type KVGates struct {
	Kv       jetstream.KeyValue
	Reseller string
}

func (g KVGates) key(k events.Key) string {
	return g.Reseller + "." + base64.RawURLEncoding.EncodeToString([]byte(k.Seller+"\x00"+k.Account+"\x00"+k.Item))
}

func (g KVGates) Load(ctx context.Context) (map[events.Key]Gate, error) {
	out := map[events.Key]Gate{}
	lister, err := g.Kv.ListKeysFiltered(ctx, g.Reseller+".>")
	if err != nil {
		return nil, store.Classify(err)
	}
	for key := range lister.Keys() {
		e, err := g.Kv.Get(ctx, key)
		if err != nil {
			continue
		}
		raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(key, g.Reseller+"."))
		parts := strings.Split(string(raw), "\x00")
		var gate Gate
		if err != nil || len(parts) != 3 || json.Unmarshal(e.Value(), &gate) != nil {
			continue
		}
		out[events.Key{Seller: parts[0], Account: parts[1], Item: parts[2]}] = gate
	}
	return out, nil
}

func (g KVGates) Save(ctx context.Context, k events.Key, gate Gate) error {
	b, _ := json.Marshal(gate)
	_, err := g.Kv.Put(ctx, g.key(k), b)
	return store.Classify(err)
}

func (g KVGates) Clear(ctx context.Context, k events.Key) error {
	err := g.Kv.Delete(ctx, g.key(k))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	return store.Classify(err)
}
