package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/billrelay/billrelay/events"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Refused reports a create or update JetStream turned down for lack of
// room: the store (or the account) cannot reserve the MaxBytes asked for.
func Refused(err error) bool {
	return errors.Is(Classify(err), events.ErrStorageFull)
}

// JetStream error codes the relay turns into its own kinds.
const (
	codeAccountResources = 10002
	codeInsufficient     = 10023
	codeStorageExceeded  = 10047
	codeMemoryExceeded   = 10028
	codeStoreFailed      = 10077
	CodeBatchDuplicateID = 10201
	codeMaxConsumers     = 10026
	CodeConsumerNotFound = 10014
)

// Classify wraps a NATS or JetStream error in the events kind that says what
// the caller can do about it: retry later (unavailable), free space
// (storage full), or nothing (anything else stays an internal error).
func Classify(err error) error {
	if err == nil {
		return nil
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode {
		case codeAccountResources, codeInsufficient, codeStorageExceeded, codeMemoryExceeded, codeStoreFailed:
			return fmt.Errorf("%w: %w", events.ErrStorageFull, err)
		case codeMaxConsumers:
			return fmt.Errorf("%w: %w", events.ErrConflict, err)
		}
		return err
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout),
		errors.Is(err, nats.ErrNoResponders), errors.Is(err, jetstream.ErrNoStreamResponse),
		errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrConnectionDraining),
		errors.Is(err, nats.ErrDisconnected), errors.Is(err, nats.ErrConnectionReconnecting),
		errors.Is(err, jetstream.ErrJetStreamNotEnabled):
		return fmt.Errorf("%w: %w", events.ErrUnavailable, err)
	}
	return err
}

func APICode(err error) int {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return int(apiErr.ErrorCode)
	}
	return 0
}

func AwaitAck(ctx context.Context, f jetstream.PubAckFuture) (*jetstream.PubAck, error) {
	select {
	case ack := <-f.Ok():
		return ack, nil
	case err := <-f.Err():
		return nil, Classify(err)
	case <-ctx.Done():
		return nil, Classify(ctx.Err())
	}
}

func IsWrongRevision(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}

// NoStream reports a publish that no stream answered: the subject is
// captured by none (or, on a cluster, its stream has no leader yet).
func NoStream(err error) bool {
	return errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders)
}
