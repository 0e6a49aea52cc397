package dlq

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/store"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Dead letters are copies, not pointers: the DLQ stream keeps the event
// itself with where it came from and why it died, so that it can be read
// and redriven even after the original copy aged out.
const (
	dlqEntryPrefix   = "dlq.entry"
	dlqRedrivePrefix = "dlq.redriven"

	headerReseller    = "Relay-Reseller"
	headerStream      = "Relay-Stream"
	headerOrigSubject = "Relay-Orig-Subject"
	headerOrigSeq     = "Relay-Orig-Seq"
	headerAttempts    = "Relay-Attempts"
	headerReason      = "Relay-Reason"

	// MaxDLQList bounds one listing.
	MaxDLQList = 1000
)

// DeadLetter is one DLQ entry.
type DeadLetter struct {
	// ID names the entry for redrive (its DLQ sequence).
	ID string `json:"id"`
	// Reseller is whose delivery died (Seller for an order to a seller).
	Reseller string          `json:"reseller,omitempty"`
	Seller   string          `json:"seller,omitempty"`
	Event    json.RawMessage `json:"event"`
	Attempts int             `json:"attempts"`
	Reason   string          `json:"reason"`
	Time     time.Time       `json:"time"`
	Subject  string          `json:"subject"`
	Seq      uint64          `json:"seq"`
	Redriven bool            `json:"redriven"`
}

// Origin is where a dead message was: its stream, consumer, sequence and
// subject.
type Origin struct {
	Stream, Consumer string
	Seq              uint64
	Subject          string
}

// DeadLetter copies one delivery to the DLQ. The message id makes the copy
// happen once, however many paths (dispatcher, term, advisory,
// reconciliation) report the same death.
func (r *DLQ) DeadLetter(ctx context.Context, o Origin, body []byte, attempts int, reason string) error {
	m := nats.NewMsg(dlqEntryPrefix + "." + o.Consumer)
	m.Data = body
	m.Header.Set(jetstream.MsgIDHeader, "dlq:"+o.Consumer+":"+strconv.FormatUint(o.Seq, 10))
	m.Header.Set(headerReseller, o.Consumer)
	m.Header.Set(headerStream, o.Stream)
	m.Header.Set(headerOrigSubject, o.Subject)
	m.Header.Set(headerOrigSeq, strconv.FormatUint(o.Seq, 10))
	m.Header.Set(headerAttempts, strconv.Itoa(attempts))
	m.Header.Set(headerReason, headerSafe(reason))
	ack, err := r.js.PublishMsg(ctx, m)
	if err != nil {
		return fmt.Errorf("dead-letter seq %d of %s: %w", o.Seq, o.Consumer, store.Classify(err))
	}
	if !ack.Duplicate {
		r.metrics.DeadLettered.WithLabelValues(o.Consumer).Inc()
		r.log.Error().Str("consumer", o.Consumer).Uint64("stream_seq", o.Seq).Str("reason", reason).Msg("event dead-lettered")
		r.opsEvent(ctx, relay.OpsDeadLettered, o.Consumer, map[string]any{"seq": o.Seq, "reason": reason, "dlq_id": strconv.FormatUint(ack.Sequence, 10)})
	}
	return nil
}

// deadLetterSeq copies a message known only by its stream sequence.
func (r *DLQ) deadLetterSeq(ctx context.Context, stream, consumer string, seq uint64, attempts int, reason string) error {
	m, err := store.GetMsg(ctx, r.js, stream, seq)
	if err != nil {
		return fmt.Errorf("read seq %d for the dead letters: %w", seq, err)
	}
	return r.DeadLetter(ctx, Origin{stream, consumer, seq, m.Subject}, m.Data, attempts, reason)
}

// headerSafe keeps a reason on one header line.
func headerSafe(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
	if len(s) > 1024 {
		s = s[:1024]
	}
	return s
}

// DeadLetters lists a reseller's dead letters (every reseller's when
// reseller is empty), oldest first; redriven ones only with all.
func (r *DLQ) DeadLetters(ctx context.Context, reseller string, all bool, limit int) ([]DeadLetter, error) {
	if reseller != "" && !r.reg.Taken(reseller) {
		return nil, fmt.Errorf("%w: reseller %q", events.ErrNotFound, reseller)
	}
	entries, redriven, err := r.readDLQ(ctx, reseller)
	if err != nil {
		return nil, err
	}
	out := []DeadLetter{}
	for _, d := range entries {
		d.Redriven = redriven[d.ID]
		if (all || !d.Redriven) && len(out) < limit {
			out = append(out, d)
		}
	}
	return out, nil
}

func (r *DLQ) readDLQ(ctx context.Context, reseller string) ([]DeadLetter, map[string]bool, error) {
	who := reseller
	if who == "" {
		who = "*"
	}
	msgs, err := r.tail(ctx, relay.StreamDLQ, "dlq.*."+who, 1<<30)
	if err != nil {
		return nil, nil, err
	}
	var entries []DeadLetter
	redriven := map[string]bool{}
	for _, m := range msgs {
		if strings.HasPrefix(m.Subject, dlqRedrivePrefix+".") {
			redriven[string(m.Data)] = true
			continue
		}
		entries = append(entries, deadLetterOf(m))
	}
	return entries, redriven, nil
}

func deadLetterOf(m *jetstream.RawStreamMsg) DeadLetter {
	attempts, _ := strconv.Atoi(m.Header.Get(headerAttempts))
	seq, _ := strconv.ParseUint(m.Header.Get(headerOrigSeq), 10, 64)
	d := DeadLetter{ID: strconv.FormatUint(m.Sequence, 10), Reseller: m.Header.Get(headerReseller),
		Event: m.Data, Attempts: attempts, Reason: m.Header.Get(headerReason), Time: m.Time,
		Subject: m.Header.Get(headerOrigSubject), Seq: seq}
	if m.Header.Get(headerStream) == relay.StreamOrders {
		d.Seller, d.Reseller = d.Reseller, ""
	}
	return d
}

// Redrive sends a reseller's dead letters (those named, or all not yet
// redriven) back to its delivery, marked as redriven. Redriving an entry a
// second time does nothing: the answer counts only what was sent now.
func (r *DLQ) Redrive(ctx context.Context, reseller string, ids []string) (int, error) {
	if !r.reg.Taken(reseller) {
		return 0, fmt.Errorf("%w: reseller %q", events.ErrNotFound, reseller)
	}
	entries, redriven, err := r.readDLQ(ctx, reseller)
	if err != nil {
		return 0, err
	}
	chosen, err := chooseDeadLetters(entries, ids)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, d := range chosen {
		if redriven[d.ID] {
			continue
		}
		if err := r.redriveOne(ctx, d); err != nil {
			return n, err
		}
		redriven[d.ID] = true
		n++
	}
	if n > 0 {
		r.audit(ctx, relay.AuditEntry{Action: "dlq.redrive", Target: reseller, Detail: map[string]any{"redriven": n, "ids": ids}})
	}
	return n, nil
}

func chooseDeadLetters(entries []DeadLetter, ids []string) ([]DeadLetter, error) {
	if len(ids) == 0 {
		return entries, nil
	}
	byID := map[string]DeadLetter{}
	for _, d := range entries {
		byID[d.ID] = d
	}
	ve := &events.ValidationError{Kind: events.ErrNotFound}
	var out []DeadLetter
	for i, id := range ids {
		d, ok := byID[id]
		if !ok {
			ve.Add(fmt.Sprintf("ids[%d]", i), "no dead letter %q for this reseller", id)
			continue
		}
		out = append(out, d)
	}
	return out, ve.Err()
}

func (r *DLQ) redriveOne(ctx context.Context, d DeadLetter) error {
	m := nats.NewMsg(d.Subject)
	m.Data = d.Event
	m.Header.Set(jetstream.MsgIDHeader, "redrive:"+d.ID)
	m.Header.Set(relay.HeaderContentType, relay.ContentTypeCE)
	m.Header.Set(relay.HeaderRedriven, "true")
	m.Header.Set(relay.HeaderEventID, relay.EventIDOf(d.Event))
	if _, err := r.js.PublishMsg(ctx, m); err != nil {
		return fmt.Errorf("redrive %s: %w", d.ID, store.Classify(err))
	}
	mark := nats.NewMsg(dlqRedrivePrefix + "." + d.Reseller + d.Seller)
	mark.Data = []byte(d.ID)
	mark.Header.Set(jetstream.MsgIDHeader, "redriven:"+d.ID)
	if _, err := r.js.PublishMsg(ctx, mark); err != nil {
		return fmt.Errorf("mark %s redriven: %w", d.ID, store.Classify(err))
	}
	r.log.Info().Str("consumer", d.Reseller+d.Seller).Str("dlq_id", d.ID).Msg("dead letter redriven")
	return nil
}

// DLQCount counts a reseller's dead letters not yet redriven, from the
// stream's per-subject counts (no message is read).
func (r *DLQ) DLQCount(ctx context.Context, reseller string) (int, error) {
	st, err := r.js.Stream(ctx, relay.StreamDLQ)
	if err != nil {
		return 0, store.Classify(err)
	}
	counts, err := store.SubjectCounts(ctx, st, "dlq.*."+reseller)
	if err != nil {
		return 0, err
	}
	return int(counts[dlqEntryPrefix+"."+reseller]) - int(counts[dlqRedrivePrefix+"."+reseller]), nil
}
