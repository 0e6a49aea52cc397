// Package deliverytest is an in-memory [delivery.Source] that settles
// messages the way a JetStream pull consumer does, so that the dispatcher,
// every sink and their conformance suite (test/sinktest) run without NATS,
// the way watermill's gochannel runs its pubsub suite. It records every
// settle operation, so a test can check what the dispatcher told the
// consumer, not only what the receiver saw.
//
// It imports delivery, relay, events and NATS types only; tests of any
// package may use it.
package deliverytest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/delivery"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Config of a [Source].
type Config struct {
	// AckWait: a delivery neither settled nor kept in progress within it
	// is handed out again (default 30s).
	AckWait time.Duration
	// MaxDeliver: after that many deliveries a message is handed out no
	// more (0: no limit).
	MaxDeliver int
}

// State is where a message is in its consumer.
type State int

const (
	Pending   State = iota // stored, never handed out
	InFlight               // handed out, its ack timer running
	Waiting                // naked, handed out again when due
	Acked                  // settled: delivered
	Termed                 // settled: terminated
	Exhausted              // MaxDeliver reached: handed out no more
)

func (s State) settled() bool { return s >= Acked }

// OpKind names a settle operation.
type OpKind string

const (
	OpAck      OpKind = "ack"
	OpNak      OpKind = "nak"
	OpTerm     OpKind = "term"
	OpProgress OpKind = "progress"
)

// Op is one settle operation the source applied.
type Op struct {
	Seq      uint64
	Kind     OpKind
	Delivery int           // the delivery (NumDelivered) of the handle used
	Delay    time.Duration // of a nak
	Reason   string        // of a term
}

// ErrSettled is the answer to settling a message already acked or
// terminated (nats.go answers a double ack with an error too).
var ErrSettled = errors.New("message already settled")

// Source is one consumer over an in-memory stream. Safe for concurrent use.
type Source struct {
	cfg     Config
	mu      sync.Mutex
	msgs    []*stored // index seq-1
	cseq    uint64    // consumer sequence: one per delivery
	ops     []Op
	changed chan struct{}
}

type stored struct {
	seq       uint64
	subject   string
	header    nats.Header
	data      []byte
	at        time.Time
	state     State
	delivered int
	due       time.Time // InFlight: ack deadline; Waiting: when it comes back
	reason    string
}

var _ delivery.Source = (*Source)(nil)

// New returns an empty source.
func New(cfg Config) *Source {
	if cfg.AckWait <= 0 {
		cfg.AckWait = 30 * time.Second
	}
	return &Source{cfg: cfg, changed: make(chan struct{})}
}

// Publish stores a message and returns its stream sequence.
func (s *Source) Publish(subject string, h nats.Header, data []byte) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := &stored{seq: uint64(len(s.msgs)) + 1, subject: subject, header: h, data: data, at: time.Now()}
	s.msgs = append(s.msgs, m)
	s.notifyLocked()
	return m.seq
}

// PublishEvent stores e as the relay stores reseller's copy of it: on its
// delivery subject, with the event id and type headers.
func (s *Source) PublishEvent(reseller string, e events.Event) (uint64, error) {
	body, err := json.Marshal(e)
	if err != nil {
		return 0, fmt.Errorf("encode event %s: %w", e.ID, err)
	}
	h := nats.Header{}
	h.Set(relay.HeaderEventID, e.ID)
	h.Set(relay.HeaderType, e.Type)
	h.Set(relay.HeaderContentType, relay.ContentTypeCE)
	return s.Publish(events.DeliverSubject(reseller, e.Key()), h, body), nil
}

// Fetch implements [delivery.Source]: up to n messages due now, waiting
// up to wait for the first. Redeliveries come before new messages, each in
// stream order, as JetStream hands them out.
func (s *Source) Fetch(ctx context.Context, n int, wait time.Duration) ([]delivery.Delivered, error) {
	deadline := time.Now().Add(wait)
	for {
		s.mu.Lock()
		out := s.takeLocked(n, time.Now())
		next, ch := s.nextDueLocked(), s.changed
		s.mu.Unlock()
		left := time.Until(deadline)
		if len(out) > 0 || left <= 0 {
			return out, nil
		}
		if !next.IsZero() {
			left = min(left, max(time.Until(next), time.Millisecond))
		}
		t := time.NewTimer(left)
		select {
		case <-ch:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
		t.Stop()
	}
}

// takeLocked hands out up to n messages due at now.
func (s *Source) takeLocked(n int, now time.Time) []delivery.Delivered {
	var out []delivery.Delivered
	for _, again := range []bool{true, false} {
		for _, m := range s.msgs {
			if len(out) >= n {
				return out
			}
			if s.dueLocked(m, now, again) {
				out = append(out, s.handOutLocked(m, now))
			}
		}
	}
	return out
}

// dueLocked reports whether m is to be handed out now, as a redelivery
// (again) or for the first time.
func (s *Source) dueLocked(m *stored, now time.Time, again bool) bool {
	if !again {
		return m.state == Pending
	}
	if (m.state != InFlight && m.state != Waiting) || now.Before(m.due) {
		return false
	}
	if s.cfg.MaxDeliver > 0 && m.delivered >= s.cfg.MaxDeliver {
		m.state = Exhausted
		return false
	}
	return true
}

func (s *Source) handOutLocked(m *stored, now time.Time) delivery.Delivered {
	m.state, m.due = InFlight, now.Add(s.cfg.AckWait)
	m.delivered++
	s.cseq++
	return &msg{s: s, m: m, delivery: m.delivered, cseq: s.cseq}
}

// nextDueLocked is when the next message held back comes due (zero: none).
func (s *Source) nextDueLocked() time.Time {
	var next time.Time
	for _, m := range s.msgs {
		if (m.state == InFlight || m.state == Waiting) && (next.IsZero() || m.due.Before(next)) {
			next = m.due
		}
	}
	return next
}

func (s *Source) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// settle applies one operation on m through a handle of delivery n.
func (s *Source) settle(m *stored, n int, op Op) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.state.settled() || m.state == Exhausted {
		return fmt.Errorf("%s of message %d: %w", op.Kind, m.seq, ErrSettled)
	}
	now := time.Now()
	switch op.Kind {
	case OpAck:
		m.state = Acked
	case OpTerm:
		m.state, m.reason = Termed, op.Reason
	case OpNak:
		m.state, m.due = Waiting, now.Add(op.Delay)
	case OpProgress:
		if m.state == InFlight {
			m.due = now.Add(s.cfg.AckWait)
		}
	}
	op.Seq, op.Delivery = m.seq, n
	s.ops = append(s.ops, op)
	s.notifyLocked()
	return nil
}

// Ops lists every settle operation applied, in order.
func (s *Source) Ops() []Op {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Op(nil), s.ops...)
}

// Info is what the source knows of one message.
type Info struct {
	Seq       uint64
	Subject   string
	State     State
	Delivered int    // times handed out
	Reason    string // of a terminate
}

// Message describes the message of stream sequence seq.
func (s *Source) Message(seq uint64) (Info, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if seq == 0 || seq > uint64(len(s.msgs)) {
		return Info{}, false
	}
	m := s.msgs[seq-1]
	return Info{Seq: m.seq, Subject: m.subject, State: m.state, Delivered: m.delivered, Reason: m.reason}, true
}

// Unsettled counts the messages neither acked, terminated nor exhausted.
func (s *Source) Unsettled() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, m := range s.msgs {
		if !m.state.settled() && m.state != Exhausted {
			n++
		}
	}
	return n
}

// Until waits until cond holds, testing it after every change of the
// source, or until ctx ends.
func (s *Source) Until(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// msg is one delivery of a stored message.
type msg struct {
	s        *Source
	m        *stored
	delivery int
	cseq     uint64
}

func (d *msg) Data() []byte { return d.m.data }

// Headers returns a copy: receivers must not change the stored message.
func (d *msg) Headers() nats.Header {
	h := nats.Header{}
	for k, v := range d.m.header {
		h[k] = append([]string(nil), v...)
	}
	return h
}

func (d *msg) Subject() string { return d.m.subject }

func (d *msg) Metadata() (*jetstream.MsgMetadata, error) {
	return &jetstream.MsgMetadata{
		Sequence:     jetstream.SequencePair{Stream: d.m.seq, Consumer: d.cseq},
		NumDelivered: uint64(d.delivery), Timestamp: d.m.at, Stream: "MEMORY", Consumer: "memory",
	}, nil
}

func (d *msg) Ack() error { return d.s.settle(d.m, d.delivery, Op{Kind: OpAck}) }

func (d *msg) NakWithDelay(delay time.Duration) error {
	return d.s.settle(d.m, d.delivery, Op{Kind: OpNak, Delay: delay})
}

func (d *msg) TermWithReason(reason string) error {
	return d.s.settle(d.m, d.delivery, Op{Kind: OpTerm, Reason: reason})
}

func (d *msg) InProgress() error { return d.s.settle(d.m, d.delivery, Op{Kind: OpProgress}) }
