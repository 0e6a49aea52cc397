package ops

import (
	"context"
	"errors"
	"time"

	"github.com/billrelay/billrelay/relay"
	"github.com/nats-io/nats.go/jetstream"
)

// Status is where one seller's or reseller's delivery stands.
type Status struct {
	Lag
	// DLQ counts dead letters not yet redriven.
	DLQ int `json:"dlq"`
	// OldestUnacked is the age of the oldest event not yet acked (0 when
	// everything is acked): how long the receiver has been behind.
	OldestUnacked time.Duration `json:"-"`
	// OldestUnackedSeconds is OldestUnacked for JSON.
	OldestUnackedSeconds float64 `json:"oldest_unacked_seconds"`
}

// ResellerStatus returns a reseller's lag, dead letters and oldest unacked
// event.
func (r *Ops) ResellerStatus(ctx context.Context, id string) (Status, error) {
	ep, err := r.dir.EndpointOf(relay.RoleReseller, id)
	if err != nil {
		return Status{}, err
	}
	return r.EndpointStatus(ctx, ep)
}

// SellerStatus is [Relay.ResellerStatus] for a seller's orders.
func (r *Ops) SellerStatus(ctx context.Context, id string) (Status, error) {
	ep, err := r.dir.EndpointOf(relay.RoleSeller, id)
	if err != nil {
		return Status{}, err
	}
	return r.EndpointStatus(ctx, ep)
}

// EndpointStatus reads a destination's lag, dead letters and webhook.
func (r *Ops) EndpointStatus(ctx context.Context, ep relay.Destination) (Status, error) {
	lag, err := r.lag(ctx, ep.Stream, ep.ID)
	if err != nil {
		return Status{}, err
	}
	dlq, err := r.dlq.DLQCount(ctx, ep.ID)
	if err != nil {
		return Status{}, err
	}
	st := Status{Lag: lag, DLQ: dlq}
	if lag.Pending > 0 || lag.AckPending > 0 {
		st.OldestUnacked = r.oldestUnacked(ctx, ep, lag.LastAcked.Seq)
		st.OldestUnackedSeconds = st.OldestUnacked.Seconds()
	}
	return st, nil
}

// oldestUnacked is the age of the first event of ep above its ack floor.
func (r *Ops) oldestUnacked(ctx context.Context, ep relay.Destination, floor uint64) time.Duration {
	st, err := r.js.Stream(ctx, ep.Stream)
	if err != nil {
		return 0
	}
	cfg := r.streams.ConsumerConfig(ep)
	m, err := st.GetMsg(ctx, floor+1, jetstream.WithGetMsgSubject(cfg.FilterSubject))
	if err != nil {
		if !errors.Is(err, jetstream.ErrMsgNotFound) {
			r.log.Debug().Err(err).Str("consumer", ep.ID).Msg("oldest unacked event")
		}
		return 0
	}
	return time.Since(m.Time)
}
