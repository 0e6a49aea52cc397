package node

import (
	"context"
	"time"

	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/dlq"
	"github.com/billrelay/billrelay/relay/pull"
	"github.com/nats-io/nats.go/jetstream"
)

// loadAckKey makes the puller (after the receipts it journals to) and
// loads the key that seals ack ids.
func (r *Relay) loadAckKey(ctx context.Context) error {
	r.puller = pull.New(pull.Config{Relay: r.cfg, Log: r.log, NC: r.nc, JS: r.js, KV: r.kv, Metrics: r.metrics,
		Receipts: r.receipts, Dir: r,
		DeadLetter: func(ctx context.Context, stream, consumer, subject string, seq uint64, body []byte, attempts int, reason string) error {
			return r.deadLetter(ctx, dlq.Origin{Stream: stream, Consumer: consumer, Seq: seq, Subject: subject}, body, attempts, reason)
		}})
	return r.puller.Open(ctx)
}

// EndpointOf is pull.Directory.
func (r *Relay) EndpointOf(role relay.Role, id string) (relay.Destination, error) {
	return r.endpointOf(role, id)
}

// Pull takes up to max events from reseller's consumer.
func (r *Relay) Pull(ctx context.Context, reseller string, max int, wait time.Duration) ([]pull.Delivery, error) {
	return r.puller.Pull(ctx, relay.RoleReseller, reseller, max, wait)
}

// PullOrders is [Relay.Pull] for a seller's orders.
func (r *Relay) PullOrders(ctx context.Context, seller string, max int, wait time.Duration) ([]pull.Delivery, error) {
	return r.puller.Pull(ctx, relay.RoleSeller, seller, max, wait)
}

// Ack settles deliveries of reseller's consumer.
func (r *Relay) Ack(ctx context.Context, reseller string, req pull.AckRequest) (pull.AckResult, error) {
	return r.puller.Ack(ctx, relay.RoleReseller, reseller, req)
}

// AckOrders is [Relay.Ack] for a seller's orders.
func (r *Relay) AckOrders(ctx context.Context, seller string, req pull.AckRequest) (pull.AckResult, error) {
	return r.puller.Ack(ctx, relay.RoleSeller, seller, req)
}

func (r *Relay) consumer(ctx context.Context, stream, name string) (jetstream.Consumer, error) {
	return r.puller.Consumer(ctx, stream, name)
}
