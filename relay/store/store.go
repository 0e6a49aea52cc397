package store

import (
	"github.com/billrelay/billrelay/relay"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Store lays out the relay's JetStream: every stream and bucket with its
// share of the store budget, the delivery streams, and the consumers of
// the destinations. It is idempotent and runs at every start, so that a
// new version brings its topology with it and several relays on one
// cluster agree on it.
type Store struct {
	js  jetstream.JetStream
	cfg relay.Config
	log zerolog.Logger
	// resellers lists the registered resellers: those still on shards
	// beyond the configured count keep their share of the budget.
	resellers func() []relay.Reseller
}

// New makes the store on js. resellers may be nil until the registry is
// loaded.
func New(js jetstream.JetStream, cfg relay.Config, log zerolog.Logger, resellers func() []relay.Reseller) *Store {
	return &Store{js: js, cfg: cfg, log: log, resellers: resellers}
}
