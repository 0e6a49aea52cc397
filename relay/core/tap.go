package core

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/nats-io/nats.go/jetstream"
)

// Tap delivers every event stored in EVENTS from now on to sink, through a
// durable consumer named tap-<name> and the same dispatcher as webhooks
// (retries, per-item order, dead letters). Adapters that react to events,
// such as failure notifications, use it. It runs until the relay closes.
func (r *Relay) Tap(ctx context.Context, name string, sink Sink, cfg DispatchConfig) error {
	durable := "tap-" + name
	cons, err := r.js.CreateOrUpdateConsumer(ctx, StreamEvents, r.pinned(jetstream.ConsumerConfig{
		Durable: durable, Description: "tap " + name, DeliverPolicy: jetstream.DeliverNewPolicy,
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: r.cfg.AckWait, MaxDeliver: -1, Replicas: r.cfg.Replicas,
	}))
	if err != nil {
		return fmt.Errorf("create tap %s: %w", name, classify(err))
	}
	cfg.AckWait = r.cfg.AckWait
	cfg.Log = r.log.With().Str("consumer", durable).Logger()
	cfg.Dead = func(ctx context.Context, m Message, reason string) error {
		return r.deadLetter(ctx, deadLetterOrigin{StreamEvents, durable, m.Seq, m.Subject}, m.Body, m.Attempt, reason)
	}
	d := NewDispatcher(cfg, sink, &groupSource{cons: cons, group: relayGroup})
	r.sup.start(r.bg, part{name: "tap " + name, run: d.Run})
	return nil
}

// BucketDone holds "done" marks: things that must happen once per event
// (a notification), checked before and marked after.
const BucketDone = "RELAY_DONE"

func (r *Relay) openDone(ctx context.Context) error {
	kv, err := r.ensureBucket(ctx, jetstream.KeyValueConfig{
		Bucket: BucketDone, Description: "what was done once per event (notifications sent)",
		Storage: jetstream.FileStorage, Replicas: r.cfg.Replicas, TTL: r.cfg.Retention,
		MaxBytes: r.cfg.maxBytes(BucketDone, 0),
	})
	if err != nil {
		return fmt.Errorf("provision bucket %s: %w", BucketDone, err)
	}
	r.done = kv
	return nil
}

// Done reports whether key was marked done.
func (r *Relay) Done(ctx context.Context, key string) (bool, error) {
	_, err := r.done.Get(ctx, doneKey(key))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	return err == nil, classify(err)
}

// MarkDone marks key done.
func (r *Relay) MarkDone(ctx context.Context, key string) error {
	_, err := r.done.Put(ctx, doneKey(key), []byte(time.Now().UTC().Format(time.RFC3339)))
	return classify(err)
}

func doneKey(key string) string { return events.DeriveID("done", key) }
