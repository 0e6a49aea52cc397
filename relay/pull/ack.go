package pull

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/store"
)

// MaxAckIDs bounds the ids of one ack request.
const MaxAckIDs = 3000

// maxNakDelay bounds a requested redelivery delay.
const maxNakDelay = 24 * time.Hour

// AckRequest settles deliveries: ack (done), nak (deliver again after a
// delay), term (never deliver again, with a reason).
type AckRequest struct {
	Ack  []string  `json:"ack"`
	Nak  []NakItem `json:"nak"`
	Term []Term    `json:"term"`
	// Progress resets the ack timer of deliveries still being worked on
	// (JetStream's InProgress): an agent holding an event behind another
	// of its item keeps it alive this way.
	Progress []string `json:"progress,omitempty"`
}

// NakItem asks for one delivery to come back after Delay (a Go duration;
// "0s" or empty: on the next pull).
type NakItem struct {
	AckID string `json:"ack_id"`
	Delay string `json:"delay"`
}

// Term stops one delivery for good, saying why.
type Term struct {
	AckID  string `json:"ack_id"`
	Reason string `json:"reason"`
}

// AckResult counts what was applied and names each id that was not.
type AckResult struct {
	Acked      int        `json:"acked"`
	Naked      int        `json:"naked"`
	Termed     int        `json:"termed"`
	InProgress int        `json:"in_progress,omitempty"`
	Errors     []AckError `json:"errors"`
}

// AckError says why one id was not applied.
type AckError struct {
	AckID  string `json:"ack_id"`
	Reason string `json:"reason"`
}

// Ack settles deliveries of the consumer of a reseller (its events) or a
// seller (its orders). The whole request is refused if any id belongs to
// another consumer (403) or is not an ack id (400); otherwise each id is
// handled on its own.
func (r *Puller) Ack(ctx context.Context, role relay.Role, id string, req AckRequest) (AckResult, error) {
	ep, err := r.dir.EndpointOf(role, id)
	if err != nil {
		return AckResult{}, err
	}
	return r.settle(ctx, ep.Stream, ep.ID, req)
}

// settlement is one checked id with what to send for it.
type settlement struct {
	id      string
	d       ackRef
	payload []byte
	kind    settleKind
	reason  string
	expired bool // sent, but reported instead of counted
}

func (r *Puller) settle(ctx context.Context, stream, consumer string, req AckRequest) (AckResult, error) {
	items, err := r.checkSettlements(stream, consumer, req)
	if err != nil {
		return AckResult{}, err
	}
	res := AckResult{Errors: []AckError{}}
	todo := r.screen(items, &res)
	rcs, err := r.receiptsOf(ctx, stream, consumer, todo)
	if err != nil {
		return AckResult{}, err
	}
	if err := r.journalOrSkip(ctx, consumer, rcs); err != nil {
		return AckResult{}, err
	}
	if err := r.sendGated(ctx, todo); err != nil {
		return AckResult{}, err
	}
	for _, s := range todo {
		if s.kind == kindProgress {
			r.settled.touch(s.d)
		} else {
			r.settled.add(stream, consumer, s.d.streamSeq, s.d.attempt)
		}
		if !s.expired {
			res.count(s.kind)
		}
		if s.kind == kindAck {
			r.metrics.Acked.WithLabelValues(consumer, "pull").Inc()
		}
	}
	return res, nil
}

// journalOrSkip journals the receipts, and settles without them when the
// store has no room for them. RECEIPTS has room kept for it (budget.go), so
// this happens only on a store laid out before, or past, that reserve.
// Refusing the ack instead would keep the event coming back until it is
// dead-lettered, and a full store would stop the very drain that frees
// it; the receipt only guards a crash within the ~100 ms before JetStream
// writes the ack state, whose cost is one repeated delivery.
func (r *Puller) journalOrSkip(ctx context.Context, consumer string, rcs []relay.Receipt) error {
	err := r.receipts.Journal(ctx, rcs)
	if !errors.Is(err, events.ErrStorageFull) {
		return err
	}
	r.metrics.ReceiptsSkipped.Add(float64(len(rcs)))
	r.log.Warn().Err(err).Str("consumer", consumer).Int("receipts_skipped", len(rcs)).
		Msg("store full: settled without receipts; a crash in the next moment may deliver these events once more")
	return nil
}

// receiptsOf says what each ack and term of a request applied or
// rejected, per item.
func (r *Puller) receiptsOf(ctx context.Context, stream, consumer string, todo []settlement) ([]relay.Receipt, error) {
	var out []relay.Receipt
	now := time.Now().UTC()
	for _, s := range todo {
		if !s.kind.receipted() {
			continue
		}
		rc, err := r.receipts.ReceiptFor(ctx, stream, consumer, s.d.streamSeq)
		if err != nil {
			return nil, fmt.Errorf("receipt of seq %d: %w", s.d.streamSeq, err)
		}
		rc.Time, rc.Action = now, relay.ActionApplied
		if s.kind == kindTerm {
			rc.Action, rc.Reason = relay.ActionRejected, s.reason
		}
		if !rc.Stored.IsZero() {
			r.metrics.DeliveryLatency.WithLabelValues("pull").Observe(now.Sub(rc.Stored).Seconds())
		}
		out = append(out, rc)
	}
	return out, nil
}

// settleKind is what a reseller asks of one delivery.
type settleKind uint8

const (
	kindAck settleKind = iota + 1
	kindNak
	kindTerm
	kindProgress
)

// receipted reports whether the kind settles the delivery for good (an
// ack or a term), so that its receipt is journaled first.
func (k settleKind) receipted() bool { return k == kindAck || k == kindTerm }

// count counts one settle of kind in the result.
func (res *AckResult) count(k settleKind) {
	switch k {
	case kindAck:
		res.Acked++
	case kindNak:
		res.Naked++
	case kindTerm:
		res.Termed++
	case kindProgress:
		res.InProgress++
	}
}

// checkSettlements validates the whole request before anything is applied.
func (r *Puller) checkSettlements(stream, consumer string, req AckRequest) ([]settlement, error) {
	n := len(req.Ack) + len(req.Nak) + len(req.Term) + len(req.Progress)
	if n > MaxAckIDs {
		return nil, fmt.Errorf("%w: %d ids in one request; at most %d", events.ErrTooLarge, n, MaxAckIDs)
	}
	if n == 0 {
		return nil, events.Invalid("ack", "nothing to settle; send ack, nak, term or progress ids")
	}
	ids, fields, items := make([]string, 0, n), make([]string, 0, n), make([]settlement, 0, n)
	ve := &events.ValidationError{}
	for i, id := range req.Ack {
		ids, fields = append(ids, id), append(fields, "ack["+strconv.Itoa(i)+"]")
		items = append(items, settlement{id: id, kind: kindAck, payload: []byte("+ACK")})
	}
	for i, nk := range req.Nak {
		ids, fields = append(ids, nk.AckID), append(fields, "nak["+strconv.Itoa(i)+"].ack_id")
		items = append(items, settlement{id: nk.AckID, kind: kindNak, payload: nakPayload(ve, i, nk.Delay)})
	}
	for i, t := range req.Term {
		ids, fields = append(ids, t.AckID), append(fields, "term["+strconv.Itoa(i)+"].ack_id")
		reason := relay.ClipReason(t.Reason)
		items = append(items, settlement{id: t.AckID, kind: kindTerm, reason: reason, payload: []byte("+TERM " + reason)})
	}
	for i, id := range req.Progress {
		ids, fields = append(ids, id), append(fields, "progress["+strconv.Itoa(i)+"]")
		items = append(items, settlement{id: id, kind: kindProgress, payload: []byte("+WPI")})
	}
	ds, err := r.checkAckIDs(stream, consumer, ids, fields)
	if err != nil {
		return nil, err
	}
	if err := ve.Err(); err != nil {
		return nil, err
	}
	for i := range items {
		items[i].d = ds[i]
	}
	return items, nil
}

func nakPayload(ve *events.ValidationError, i int, delay string) []byte {
	if delay == "" {
		return []byte("-NAK")
	}
	d, err := time.ParseDuration(delay)
	if err != nil || d < 0 || d > maxNakDelay {
		ve.Add("nak["+strconv.Itoa(i)+"].delay", "expected a duration from 0s to 24h such as \"30s\", got %q", delay)
		return nil
	}
	if d == 0 {
		return []byte("-NAK")
	}
	b, _ := json.Marshal(struct {
		Delay int64 `json:"delay"`
	}{int64(d)})
	return append([]byte("-NAK "), b...)
}

// screen drops ids that cannot be applied as asked and records why. An
// ack or term whose AckWait ran out is still sent (it spares a redelivery if
// the server has not made one yet) but reported, since the event may come
// again. The AckWait runs from this delivery's pull (or its last progress),
// never from when the event was stored.
func (r *Puller) screen(items []settlement, res *AckResult) []settlement {
	out := items[:0]
	for _, s := range items {
		expired := r.settled.expired(s.d, r.cfg.AckWait)
		switch {
		case r.settled.has(s.d.stream, s.d.consumer, s.d.streamSeq, s.d.attempt):
			res.Errors = append(res.Errors, AckError{s.id, "already settled: this delivery was acked, naked or terminated before"})
		case expired && s.kind == kindNak:
			res.Errors = append(res.Errors, AckError{s.id, "ack_wait expired: the event is being delivered again"})
		case expired:
			res.Errors = append(res.Errors, AckError{s.id, "ack_wait expired: applied, but the event may be delivered again"})
			s.expired = true
			out = append(out, s)
		default:
			out = append(out, s)
		}
	}
	return out
}

// sendGated is send through the work gate. The journal wait before it
// stays outside, so that concurrent acks still share one receipts commit.
func (r *Puller) sendGated(ctx context.Context, todo []settlement) error {
	if err := r.work.Enter(ctx); err != nil {
		return store.Classify(err)
	}
	defer r.work.Leave()
	return r.send(ctx, todo)
}

// send delivers the settlements to JetStream and flushes, so that the
// server has them before the caller is answered.
func (r *Puller) send(ctx context.Context, todo []settlement) error {
	for _, s := range todo {
		if err := r.nc.Publish(s.d.reply, s.payload); err != nil {
			return fmt.Errorf("send ack: %w", store.Classify(err))
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := r.nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("flush acks: %w", store.Classify(err))
	}
	return nil
}

// settledSet remembers recently settled deliveries so that a second ack of
// the same delivery is reported instead of silently accepted, and when a
// delivery last reported progress. Two generations, rotated every
// AckWait, bound its memory.
type settledSet struct {
	mu       sync.Mutex
	cur, old map[string]struct{}
	progress map[string]time.Time
	rotated  time.Time
	every    time.Duration
}

func newSettledSet(every time.Duration) *settledSet {
	return &settledSet{cur: map[string]struct{}{}, old: map[string]struct{}{},
		progress: map[string]time.Time{}, rotated: time.Now(), every: every}
}

// touch records that a delivery reported progress now.
func (s *settledSet) touch(d ackRef) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rotate()
	s.progress[settledKey(d.stream, d.consumer, d.streamSeq, d.attempt)] = time.Now()
}

// expired reports whether a delivery's ack timer, started by its pull or
// its last progress, ran longer than ackWait. A delivery whose id does not
// say when it was pulled (an id from before an upgrade) and that reported
// no progress is not known to be expired: it is applied.
func (s *settledSet) expired(d ackRef, ackWait time.Duration) bool {
	started := d.handedOut
	if t := s.progressed(d.stream, d.consumer, d.streamSeq, d.attempt); t.After(started) {
		started = t
	}
	return !started.IsZero() && time.Since(started) > ackWait
}

// progressed returns when a delivery last reported progress (zero if it
// did not, or long ago).
func (s *settledSet) progressed(stream, consumer string, seq, attempt uint64) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.progress[settledKey(stream, consumer, seq, attempt)]
}

func (s *settledSet) rotate() {
	if time.Since(s.rotated) > s.every {
		s.old, s.cur, s.rotated = s.cur, map[string]struct{}{}, time.Now()
		for k, t := range s.progress {
			if time.Since(t) > 2*s.every {
				delete(s.progress, k)
			}
		}
	}
}

func settledKey(stream, consumer string, seq, attempt uint64) string {
	return stream + "/" + consumer + "/" + strconv.FormatUint(seq, 10) + "/" + strconv.FormatUint(attempt, 10)
}

func (s *settledSet) add(stream, consumer string, seq, attempt uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rotate()
	s.cur[settledKey(stream, consumer, seq, attempt)] = struct{}{}
}

func (s *settledSet) has(stream, consumer string, seq, attempt uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := settledKey(stream, consumer, seq, attempt)
	_, a := s.cur[k]
	_, b := s.old[k]
	return a || b
}
