package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// ConsumeErrs hands a Consume's errors to its part through errs, dropping
// one when the part has not taken the previous yet (a lost consumer keeps
// reporting). Pin mismatches are the normal state of a standby relay.
func ConsumeErrs(log zerolog.Logger, name string, errs chan<- error) jetstream.PullConsumeOpt {
	return jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		if errors.Is(err, jetstream.ErrPinIDMismatch) {
			return
		}
		log.Debug().Err(err).Str("part", name).Msg("consume")
		select {
		case errs <- err:
		default:
		}
	})
}

// ConsumeWatch tells a part whose Consume runs whether its consumer is
// lost: a Consume stops by itself when its consumer is deleted, and keeps
// asking for messages, unanswered, when it vanished otherwise (a lost
// server, a purge of consumers); either way the part must end so that the
// supervisor reports it and opens it again.
type ConsumeWatch struct {
	Cons   jetstream.Consumer
	Errs   <-chan error
	Closed <-chan struct{}
}

// Lost returns an error naming the consumer if err means it is gone.
func (w ConsumeWatch) Lost(ctx context.Context, err error) error {
	name := w.Cons.CachedInfo().Name
	switch {
	case errors.Is(err, jetstream.ErrConsumerDeleted), errors.Is(err, jetstream.ErrConsumerNotFound),
		errors.Is(err, jetstream.ErrBadRequest):
		return fmt.Errorf("consumer %s: %w", name, err)
	case errors.Is(err, jetstream.ErrNoHeartbeat), errors.Is(err, nats.ErrNoResponders):
		if _, ierr := w.Cons.Info(ctx); errors.Is(ierr, jetstream.ErrConsumerNotFound) {
			return fmt.Errorf("consumer %s: %w", name, ierr)
		}
	}
	return nil
}

// Stopped is the error of a Consume that ended: the reason it reported, if
// any.
func (w ConsumeWatch) Stopped() error {
	select {
	case err := <-w.Errs:
		return fmt.Errorf("consumer %s: %w", w.Cons.CachedInfo().Name, err)
	default:
		return fmt.Errorf("consumer %s: %w", w.Cons.CachedInfo().Name, ErrStopped)
	}
}

// ErrStopped is the error of a consume that ended while its part runs.
var ErrStopped = errors.New("stopped consuming")
