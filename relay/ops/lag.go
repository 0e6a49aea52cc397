package ops

import (
	"context"
	"fmt"
	"time"

	"github.com/billrelay/billrelay/relay/store"
	"github.com/nats-io/nats.go/jetstream"
)

// Lag is where one consumer stands, from JetStream's consumer info.
type Lag struct {
	// Pending counts events stored for the consumer but not yet delivered.
	Pending uint64 `json:"pending"`
	// AckPending counts events delivered and waiting for an ack.
	AckPending int `json:"ack_pending"`
	// Redelivered counts events delivered more than once and not yet acked.
	Redelivered int `json:"redelivered"`
	// Waiting counts pull requests parked on the consumer.
	Waiting       int       `json:"waiting"`
	LastDelivered Position  `json:"last_delivered"`
	LastAcked     Position  `json:"last_acked"`
	Checked       time.Time `json:"checked"`
}

// Position is a stream sequence and when it was reached.
type Position struct {
	Seq  uint64     `json:"seq"`
	Time *time.Time `json:"time,omitempty"`
}

// ResellerLag returns the lag figures of reseller's consumer.
func (r *Ops) ResellerLag(ctx context.Context, reseller string) (Lag, error) {
	rs, err := r.dir.Reseller(reseller)
	if err != nil {
		return Lag{}, err
	}
	return r.lag(ctx, rs.DeliveryStream(), reseller)
}

func (r *Ops) lag(ctx context.Context, stream, consumer string) (Lag, error) {
	cons, err := r.consumers.Consumer(ctx, stream, consumer)
	if err != nil {
		return Lag{}, err
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return Lag{}, fmt.Errorf("consumer info %s: %w", consumer, store.Classify(err))
	}
	return lagOf(info), nil
}

func lagOf(info *jetstream.ConsumerInfo) Lag {
	return Lag{
		Pending:       info.NumPending,
		AckPending:    info.NumAckPending,
		Redelivered:   info.NumRedelivered,
		Waiting:       info.NumWaiting,
		LastDelivered: Position{Seq: info.Delivered.Stream, Time: info.Delivered.Last},
		LastAcked:     Position{Seq: info.AckFloor.Stream, Time: info.AckFloor.Last},
		Checked:       info.TimeStamp,
	}
}
