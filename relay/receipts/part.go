package receipts

import (
	"context"

	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/metrics"
	"github.com/billrelay/billrelay/relay/registry"
	"github.com/billrelay/billrelay/relay/store"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// GetMsg reads one stored message by sequence.
type GetMsg func(ctx context.Context, stream string, seq uint64) (*jetstream.RawStreamMsg, error)

// Config is what the receipts part is built from.
type Config struct {
	Relay   relay.Config
	Log     zerolog.Logger
	NC      *nats.Conn
	JS      jetstream.JetStream
	Metrics *metrics.Metrics
	// Registry is the view of the resellers whose receipts the intake
	// takes over NATS.
	Registry *registry.View
	GetMsg   GetMsg
	// Stopping is closed when the relay stops: a journal request then
	// fails at once instead of waiting for a journaler that is gone.
	Stopping <-chan struct{}
}

// Receipts keeps what resellers applied and rejected: the journal that
// stores receipts before their acks are sent (in atomic batches shared by
// concurrent acks), the writer of push deliveries' receipts, what each
// pull handed out (so an ack needs no read), the filter of deliveries
// settled just before a restart, and the intake of receipts that agents
// publish over NATS.
type Receipts struct {
	cfg      relay.Config
	log      zerolog.Logger
	nc       *nats.Conn
	js       jetstream.JetStream
	metrics  *metrics.Metrics
	reg      *registry.View
	getMsg   GetMsg
	w        store.Writer
	journals chan journalReq
	rw       *receiptWriter
	receipts *receiptFilter
	out      *handedOut
	stopping <-chan struct{}
}

// New makes the receipts part; Load reads the receipts before this start,
// RunJournaler and RunWriter store receipts, Intake takes them over NATS.
func New(c Config) *Receipts {
	return &Receipts{
		cfg: c.Relay, log: c.Log, nc: c.NC, js: c.JS, metrics: c.Metrics, reg: c.Registry, getMsg: c.GetMsg, stopping: c.Stopping,
		w:        store.Writer{JS: c.JS, Cfg: c.Relay},
		journals: make(chan journalReq, 1024),
		rw:       &receiptWriter{in: make(chan relay.Receipt, 10_000)},
		receipts: newReceiptFilter(),
		out:      &handedOut{m: map[string]relay.Receipt{}},
	}
}

// SettledBefore settles m again if it was acked or terminated just before
// the previous stop (its ack state was lost with the process), and says so.
func (r *Receipts) SettledBefore(stream, consumer string, seq uint64, m jetstream.Msg) bool {
	sb, ok := r.receipts.seen(stream, consumer, seq, m.Headers().Get(relay.HeaderEventID))
	if ok {
		_ = sb.settleAgain(m)
	}
	return ok
}

// HandOut remembers what the receipt of a delivery handed out by a pull
// will say, so that its ack needs no read.
func (r *Receipts) HandOut(stream, consumer string, seq uint64, subject string, h nats.Header) {
	r.out.put(ReceiptOf(stream, consumer, seq, subject, h))
}

// Note queues the receipt of a push delivery; it never blocks delivery.
func (r *Receipts) Note(rc relay.Receipt) { r.rw.note(rc) }

// Sink wraps a push sink so that every delivery it applies is counted and
// leaves a receipt.
func (r *Receipts) Sink(next relay.Sink, ep relay.Destination) relay.Sink {
	return &receiptSink{next: next, r: r, ep: ep}
}
