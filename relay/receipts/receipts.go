package receipts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/store"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Receipts record, per item, what each receiver applied (acked) or
// rejected (terminated): the trail for billing disputes ("did reseller X
// apply the suspension?") and the input of reconciliation. One message per
// settled event, on receipts.<stream>.<consumer>.<seller>.<account>.<item>,
// so that the last receipt of every item is one query away.
//
// They also guard against a JetStream detail: a consumer's ack state is
// written to disk up to ~100 ms after the ack (consumerFileStore.flushLoop).
// A relay killed in that window would redeliver what a reseller already
// acked through the API. So the API writes receipts (fsynced like any
// event) before it sends the acks, and after a restart the relay filters
// out deliveries whose receipt it finds: nothing a reseller acked comes
// back.
const (

	// receiptLookback is how far before the newest receipt the start-up
	// filter reaches: far beyond the ack state's flush delay.
	receiptLookback = 30 * time.Second
	// receiptFilterTTL is how long the start-up filter stays in force.
	receiptFilterTTL = 15 * time.Minute
)

func receiptMsg(rc relay.Receipt) *nats.Msg {
	m := nats.NewMsg(relay.ReceiptSubject(rc))
	m.Data, _ = json.Marshal(rc)
	return m
}

// Journal stores receipts durably (in atomic batches shared with other
// callers, one fsync each) before their acks are sent.
func (r *Receipts) Journal(ctx context.Context, rcs []relay.Receipt) error {
	if len(rcs) == 0 {
		return nil
	}
	msgs := make([]*nats.Msg, len(rcs))
	for i, rc := range rcs {
		msgs[i] = receiptMsg(rc)
	}
	for start := 0; start < len(msgs); start += store.MaxAtomicBatch {
		if err := r.journalChunk(ctx, msgs[start:min(start+store.MaxAtomicBatch, len(msgs))]); err != nil {
			return fmt.Errorf("journal receipts: %w", err)
		}
	}
	return nil
}

// receiptWriter stores receipts of push deliveries in the background, a
// batch at a time: the delivery is already acked, so its receipt need not
// hold it up.
type receiptWriter struct {
	in chan relay.Receipt
}

// RunWriter stores the receipts of push deliveries, a batch at a time.
func (r *Receipts) RunWriter(ctx context.Context) error {
	for {
		var first relay.Receipt
		select {
		case first = <-r.rw.in:
		case <-ctx.Done():
			return nil
		}
		batch := []relay.Receipt{first}
		for len(batch) < store.MaxAtomicBatch && len(r.rw.in) > 0 {
			batch = append(batch, <-r.rw.in)
		}
		jctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		if err := r.Journal(jctx, batch); err != nil {
			r.log.Warn().Err(err).Int("receipts", len(batch)).Msg("receipts of push deliveries not stored")
		}
		cancel()
	}
}

// note queues a receipt of a push delivery; it never blocks delivery.
func (w *receiptWriter) note(rc relay.Receipt) {
	select {
	case w.in <- rc:
	default:
	}
}

// handedOut remembers, for each delivery handed out by a pull, what its
// receipt will say, so that an ack needs no read. A miss (after a restart,
// or an ack reaching another relay) costs one read by sequence.
type handedOut struct {
	mu sync.Mutex
	m  map[string]relay.Receipt
}

const maxHandedOut = 200_000

func (h *handedOut) put(rc relay.Receipt) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.m) >= maxHandedOut {
		n := 0
		for k := range h.m { // Go's map order is random: this drops an arbitrary tenth
			delete(h.m, k)
			if n++; n > maxHandedOut/10 {
				break
			}
		}
	}
	h.m[rc.Stream+"/"+rc.Consumer+"/"+strconv.FormatUint(rc.Seq, 10)] = rc
}

func (h *handedOut) take(stream, consumer string, seq uint64) (relay.Receipt, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := stream + "/" + consumer + "/" + strconv.FormatUint(seq, 10)
	rc, ok := h.m[k]
	delete(h.m, k)
	return rc, ok
}

// ReceiptOf builds the receipt of a delivered message from its subject and
// headers.
func ReceiptOf(stream, consumer string, seq uint64, subject string, h nats.Header) relay.Receipt {
	k, _ := relay.KeyOfSubject(subject)
	return relay.Receipt{Stream: stream, Consumer: consumer, Seq: seq, Key: k, Stored: relay.StoredOf(h),
		EventID: h.Get(relay.HeaderEventID), Type: h.Get(relay.HeaderType), State: h.Get(relay.HeaderState)}
}

// ReceiptFor finds what a receipt of seq must say.
func (r *Receipts) ReceiptFor(ctx context.Context, stream, consumer string, seq uint64) (relay.Receipt, error) {
	if rc, ok := r.out.take(stream, consumer, seq); ok {
		return rc, nil
	}
	m, err := r.getMsg(ctx, stream, seq)
	if err != nil {
		return relay.Receipt{}, err
	}
	return ReceiptOf(stream, consumer, seq, m.Subject, m.Header), nil
}

// receiptFilter holds the stream sequences, per consumer, that were acked
// or terminated just before the previous stop.
type receiptFilter struct {
	mu    sync.RWMutex
	seqs  map[string]map[uint64]settledBefore // stream/consumer -> seq
	until time.Time
}

// settledBefore is what a receipt from before the restart says of one
// delivery.
type settledBefore struct {
	eventID, action, reason string
}

func newReceiptFilter() *receiptFilter {
	return &receiptFilter{seqs: map[string]map[uint64]settledBefore{}}
}

func (f *receiptFilter) add(rc relay.Receipt) {
	key := rc.Stream + "/" + rc.Consumer
	m := f.seqs[key]
	if m == nil {
		m = map[uint64]settledBefore{}
		f.seqs[key] = m
	}
	m[rc.Seq] = settledBefore{eventID: rc.EventID, action: rc.Action, reason: rc.Reason}
}

// seen reports how the message at seq of consumer, carrying eventID, was
// settled before the restart, if it was. The event id must match: a copy
// stored without an fsync of its own (see fence.go) may be lost in a
// crash and its sequence reused by another event, which was never settled.
func (f *receiptFilter) seen(stream, consumer string, seq uint64, eventID string) (settledBefore, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if len(f.seqs) == 0 || time.Now().After(f.until) {
		return settledBefore{}, false
	}
	sb, ok := f.seqs[stream+"/"+consumer][seq]
	return sb, ok && sb.eventID == eventID
}

// settleAgain repeats on m what a receipt says was done before the
// restart: the ack, or the term with its reason, whose advisory is what
// puts a rejected event in the dead letters.
func (sb settledBefore) settleAgain(m jetstream.Msg) error {
	if sb.action == relay.ActionRejected {
		return m.TermWithReason(relay.ClipReason(sb.reason))
	}
	return m.Ack()
}

// Load fills the filter from the last receipts before this start.
func (r *Receipts) Load(ctx context.Context) error {
	st, err := r.js.Stream(ctx, relay.StreamReceipts)
	if err != nil {
		return fmt.Errorf("open receipts: %w", store.Classify(err))
	}
	last, err := st.GetLastMsgForSubject(ctx, relay.ReceiptsPrefix+".>")
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read last receipt: %w", store.Classify(err))
	}
	oc, err := r.js.OrderedConsumer(ctx, relay.StreamReceipts, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartTimePolicy,
		OptStartTime:  ptr(last.Time.Add(-receiptLookback)),
	})
	if err != nil {
		return fmt.Errorf("read receipts: %w", store.Classify(err))
	}
	return r.foldReceipts(ctx, oc, last.Sequence)
}

func (r *Receipts) foldReceipts(ctx context.Context, oc jetstream.Consumer, lastSeq uint64) error {
	f := r.receipts
	f.mu.Lock()
	defer f.mu.Unlock()
	f.until = time.Now().Add(receiptFilterTTL)
	err := store.Scan(ctx, oc, 5*time.Second, func(m jetstream.Msg, md *jetstream.MsgMetadata) bool {
		var rc relay.Receipt
		if json.Unmarshal(m.Data(), &rc) == nil && receiptSubjectNames(m.Subject(), rc) {
			f.add(rc)
		}
		return md.Sequence.Stream < lastSeq
	})
	if err != nil {
		return fmt.Errorf("read receipts: %w", err)
	}
	r.log.Info().Int("consumers", len(f.seqs)).Msg("receipts before restart loaded")
	return nil
}

// receiptSubjectNames reports whether a stored receipt's subject names the
// stream and consumer its payload does. Receipts are written by the relay
// alone now, but a store from before tenancy may hold one a reseller
// published on its own subject naming another consumer: such a receipt
// must not settle that consumer's deliveries after a restart.
func receiptSubjectNames(subject string, rc relay.Receipt) bool {
	return strings.HasPrefix(subject, relay.ReceiptsPrefix+"."+rc.Stream+"."+rc.Consumer+".")
}

// receiptSink records, after each push delivery, what the receiver applied.
type receiptSink struct {
	next relay.Sink
	r    *Receipts
	ep   relay.Destination
}

func (s *receiptSink) Deliver(ctx context.Context, m relay.Message) error {
	err := s.next.Deliver(ctx, m)
	outcome := "ok"
	if err != nil {
		outcome = "failed"
	}
	s.r.metrics.WebhookAttempts.WithLabelValues(s.ep.ID, outcome).Inc()
	if err != nil {
		return err
	}
	s.r.metrics.Delivered.WithLabelValues(s.ep.ID, "webhook").Inc()
	s.r.metrics.Acked.WithLabelValues(s.ep.ID, "webhook").Inc()
	if !m.Stored.IsZero() {
		s.r.metrics.DeliveryLatency.WithLabelValues("webhook").Observe(time.Since(m.Stored).Seconds())
	}
	s.r.rw.note(s.receipt(m, relay.ActionApplied, ""))
	return nil
}

func (s *receiptSink) receipt(m relay.Message, action, reason string) relay.Receipt {
	return relay.Receipt{Stream: s.ep.Stream, Consumer: s.ep.ID, Seq: m.Seq, EventID: m.ID, Type: m.Type,
		State: m.State(), Action: action, Reason: reason, Time: time.Now().UTC(), Key: m.Key}
}

func ptr[T any](v T) *T { return &v }
