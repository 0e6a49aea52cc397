package pull

import (
	"context"
	"sync"

	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/metrics"
	"github.com/billrelay/billrelay/relay/store"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Receipts is what settling needs from the receipts part: the journal an
// ack waits for, what a delivery's receipt says, and the deliveries
// settled just before a restart.
type Receipts interface {
	Journal(ctx context.Context, rcs []relay.Receipt) error
	ReceiptFor(ctx context.Context, stream, consumer string, seq uint64) (relay.Receipt, error)
	SettledBefore(stream, consumer string, seq uint64, m jetstream.Msg) bool
	HandOut(stream, consumer string, seq uint64, subject string, h nats.Header)
}

// Directory finds a seller's or a reseller's destination.
type Directory interface {
	EndpointOf(role relay.Role, id string) (relay.Destination, error)
}

// DeadLetter copies a delivery that will not be repeated to the dead
// letters (the final-delivery watch's last resort).
type DeadLetter func(ctx context.Context, stream, consumer, subject string, seq uint64, body []byte, attempts int, reason string) error

// Config is what the puller is built from.
type Config struct {
	Relay      relay.Config
	Log        zerolog.Logger
	NC         *nats.Conn
	JS         jetstream.JetStream
	KV         jetstream.KeyValue // the registry's bucket, which keeps the ack id key
	Metrics    *metrics.Metrics
	Receipts   Receipts
	Dir        Directory
	DeadLetter DeadLetter
}

// Puller serves the pull path: Pull hands out a reseller's (or a seller's)
// events with sealed ack ids, and Ack settles them (ack, nak, term,
// progress) after journaling their receipts. It owns the consumer
// handles, the work gate, the per-consumer long-poll gate, the ack id key,
// the set of settled deliveries and the final-delivery watch.
type Puller struct {
	cfg      relay.Config
	log      zerolog.Logger
	nc       *nats.Conn
	js       jetstream.JetStream
	kv       jetstream.KeyValue
	metrics  *metrics.Metrics
	receipts Receipts
	dir      Directory

	work    store.WorkGate // pulls and acks working on JetStream at once
	polls   pollGate       // pulls waiting on each consumer
	ackKey  []byte
	settled *settledSet
	finals  *finalDeliveries
	cons    sync.Map // consumer name → jetstream.Consumer
}

// New makes the puller; Open loads the ack id key and Finals is the part
// that dead-letters final deliveries nobody settled.
func New(c Config) *Puller {
	r := &Puller{cfg: c.Relay, log: c.Log, nc: c.NC, js: c.JS, kv: c.KV, metrics: c.Metrics, receipts: c.Receipts, dir: c.Dir,
		work: store.NewWorkGate(), settled: newSettledSet(c.Relay.AckWait)}
	r.finals = newFinalDeliveries(c.Relay.AckWait)
	r.finals.settled = r.settled.has
	r.finals.progressed = r.settled.progressed
	r.finals.deadLetter = func(ctx context.Context, fd finalDelivery, reason string) error {
		return c.DeadLetter(ctx, fd.stream, fd.reseller, fd.subject, fd.seq, fd.body, int(fd.attempt), reason)
	}
	return r
}

// Open loads (or creates) the key that seals ack ids.
func (r *Puller) Open(ctx context.Context) error { return r.loadAckKey(ctx) }

// Finals is the part that dead-letters final deliveries whose ack wait
// passed unsettled.
func (r *Puller) Finals() func(context.Context) error { return r.finals.Run }
