package push

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/delivery"
	"github.com/billrelay/billrelay/relay/dlq"
	"github.com/billrelay/billrelay/relay/store"
	"github.com/nats-io/nats.go/jetstream"
)

// Tap delivers every event stored in EVENTS from now on to sink, through a
// durable consumer named tap-<name> and the same dispatcher as webhooks
// (retries, per-item order, dead letters). Adapters that react to events,
// such as failure notifications, use it. Tap makes the consumer (bounded by
// ctx) and returns the part to run for as long as the tap should deliver.
func (r *Pusher) Tap(ctx context.Context, name string, sink relay.Sink, cfg delivery.DispatchConfig) (func(context.Context) error, error) {
	durable := "tap-" + name
	cons, err := r.js.CreateOrUpdateConsumer(ctx, relay.StreamEvents, store.Pinned(jetstream.ConsumerConfig{
		Durable: durable, Description: "tap " + name, DeliverPolicy: jetstream.DeliverNewPolicy,
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: r.cfg.AckWait, MaxDeliver: -1, Replicas: r.cfg.Replicas,
	}, r.cfg.FailoverAfter))
	if err != nil {
		return nil, fmt.Errorf("create tap %s: %w", name, store.Classify(err))
	}
	cfg.AckWait = r.cfg.AckWait
	cfg.Log = r.log.With().Str("consumer", durable).Logger()
	cfg.Dead = func(ctx context.Context, m relay.Message, reason string) error {
		return r.deadLetter(ctx, dlq.Origin{Stream: relay.StreamEvents, Consumer: durable, Seq: m.Seq, Subject: m.Subject}, m.Body, m.Attempt, reason)
	}
	d := delivery.NewDispatcher(cfg, sink, &delivery.GroupSource{Cons: cons, Group: store.RelayGroup})
	return d.Run, nil
}

func (r *Pusher) openDone(ctx context.Context) error {
	kv, err := r.buckets.EnsureBucket(ctx, jetstream.KeyValueConfig{
		Bucket: relay.BucketDone, Description: "what was done once per event (notifications sent)",
		Storage: jetstream.FileStorage, Replicas: r.cfg.Replicas, TTL: r.cfg.Retention,
		MaxBytes: store.MaxBytes(&r.cfg, relay.BucketDone, 0),
	})
	if err != nil {
		return fmt.Errorf("provision bucket %s: %w", relay.BucketDone, err)
	}
	r.done = kv
	return nil
}

// Done reports whether key was marked done.
func (r *Pusher) Done(ctx context.Context, key string) (bool, error) {
	_, err := r.done.Get(ctx, doneKey(key))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	return err == nil, store.Classify(err)
}

// MarkDone marks key done.
func (r *Pusher) MarkDone(ctx context.Context, key string) error {
	_, err := r.done.Put(ctx, doneKey(key), []byte(time.Now().UTC().Format(time.RFC3339)))
	return store.Classify(err)
}

func doneKey(key string) string { return events.DeriveID("done", key) }
