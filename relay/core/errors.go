package core

import (
	"context"
	"errors"
	"fmt"

	"github.com/billrelay/billrelay/events"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// JetStream error codes the relay turns into its own kinds.
const (
	codeAccountResources = 10002
	codeInsufficient     = 10023
	codeStorageExceeded  = 10047
	codeMemoryExceeded   = 10028
	codeStoreFailed      = 10077
	codeBatchDuplicateID = 10201
	codeMaxConsumers     = 10026
	codeConsumerNotFound = 10014
)

// classify wraps a NATS or JetStream error in the events kind that says what
// the caller can do about it: retry later (unavailable), free space
// (storage full), or nothing (anything else stays an internal error).
func classify(err error) error {
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

func apiCode(err error) int {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return int(apiErr.ErrorCode)
	}
	return 0
}
