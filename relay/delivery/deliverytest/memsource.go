// Package deliverytest is an in-memory [delivery.Source] with JetStream's
// consumer semantics (ack wait, naks with a delay, terms, redelivery
// counts), so that the dispatcher and every sink are tested without NATS,
// as watermill's gochannel runs its pub/sub suite.
package deliverytest

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/delivery"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrSettled is returned by a second settle of one delivery, as JetStream
// ignores it.
var ErrSettled = errors.New("already settled")

// Source is one durable consumer of one reseller held in memory. The zero
// value is not usable; call New.
type Source struct {
	reseller string
	ackWait  time.Duration

	mu      sync.Mutex
	msgs    []*entry
	changed chan struct{} // closed and replaced on every change
}

type entry struct {
	seq       uint64
	subject   string
	header    nats.Header
	data      []byte
	delivered uint64
	due       time.Time // not handed out before
	out       bool      // handed out and not settled
	state     string    // "", "acked", "termed"
	reason    string
	attempt   uint64 // delivery count of the outstanding hand-out
}

var _ delivery.Source = (*Source)(nil)

// New makes an empty source for reseller's deliveries. A message handed
// out and not settled within ackWait is handed out again.
func New(reseller string, ackWait time.Duration) *Source {
	return &Source{reseller: reseller, ackWait: ackWait, changed: make(chan struct{})}
}

// Publish stores one event for the reseller as the router would: on its
// delivery subject, with the event id, type and stored time in headers.
func (s *Source) Publish(id, typ string, k events.Key, body []byte) uint64 {
	h := nats.Header{}
	h.Set(relay.HeaderEventID, id)
	h.Set(relay.HeaderType, typ)
	h.Set(relay.HeaderStored, strconv.FormatInt(time.Now().UnixNano(), 10))
	s.mu.Lock()
	defer s.mu.Unlock()
	seq := uint64(len(s.msgs) + 1)
	s.msgs = append(s.msgs, &entry{seq: seq, subject: events.DeliverSubject(s.reseller, k), header: h, data: body})
	s.signalLocked()
	return seq
}

// Fetch implements [delivery.Source]: up to max messages that are due,
// waiting up to wait for the first.
func (s *Source) Fetch(ctx context.Context, max int, wait time.Duration) ([]delivery.Delivered, error) {
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		out, next, changed := s.take(max)
		if len(out) > 0 || wait <= 0 {
			return out, nil
		}
		if err := s.await(ctx, changed, next, deadline.C); err != nil {
			return nil, ignoreDeadline(err)
		}
	}
}

var errDeadline = errors.New("fetch wait over")

func ignoreDeadline(err error) error {
	if errors.Is(err, errDeadline) {
		return nil
	}
	return err
}

// await waits for a change, for next (when a message falls due), for the
// fetch deadline or for ctx.
func (s *Source) await(ctx context.Context, changed <-chan struct{}, next time.Time, deadline <-chan time.Time) error {
	var due <-chan time.Time
	if !next.IsZero() {
		t := time.NewTimer(time.Until(next))
		defer t.Stop()
		due = t.C
	}
	select {
	case <-changed:
	case <-due:
	case <-deadline:
		return errDeadline
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// take hands out what is due and says when the next message falls due.
func (s *Source) take(max int) ([]delivery.Delivered, time.Time, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	var out []delivery.Delivered
	var next time.Time
	for _, e := range s.msgs {
		if e.state != "" {
			continue
		}
		if e.due.After(now) {
			if next.IsZero() || e.due.Before(next) {
				next = e.due
			}
			continue
		}
		if len(out) == max {
			break
		}
		e.delivered++
		e.attempt = e.delivered
		e.out = true
		e.due = now.Add(s.ackWait)
		out = append(out, &msg{s: s, e: e, attempt: e.attempt})
	}
	return out, next, s.changed
}

func (s *Source) signalLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// settle applies one outcome to e unless it is settled already: like
// JetStream, an ack of an earlier hand-out still counts.
func (s *Source) settle(e *entry, apply func(*entry)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.state != "" {
		return ErrSettled
	}
	apply(e)
	s.signalLocked()
	return nil
}

// Settled reports, per sequence, "acked" or "termed" (with the reason for
// a term) for every settled message.
func (s *Source) Settled() map[uint64]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[uint64]string{}
	for _, e := range s.msgs {
		switch e.state {
		case "acked":
			out[e.seq] = "acked"
		case "termed":
			out[e.seq] = "termed: " + e.reason
		}
	}
	return out
}

// Deliveries reports how often the message at seq was handed out.
func (s *Source) Deliveries(seq uint64) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if seq == 0 || seq > uint64(len(s.msgs)) {
		return 0
	}
	return s.msgs[seq-1].delivered
}

// WaitSettled waits until n messages are settled or ctx ends.
func (s *Source) WaitSettled(ctx context.Context, n int) (map[uint64]string, error) {
	for {
		s.mu.Lock()
		changed := s.changed
		s.mu.Unlock()
		if got := s.Settled(); len(got) >= n {
			return got, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return s.Settled(), ctx.Err()
		}
	}
}

// msg is one hand-out of one entry.
type msg struct {
	s       *Source
	e       *entry
	attempt uint64
}

func (m *msg) Data() []byte         { return m.e.data }
func (m *msg) Headers() nats.Header { return m.e.header }
func (m *msg) Subject() string      { return m.e.subject }

func (m *msg) Metadata() (*jetstream.MsgMetadata, error) {
	return &jetstream.MsgMetadata{
		Sequence:     jetstream.SequencePair{Stream: m.e.seq, Consumer: m.attempt},
		NumDelivered: m.attempt,
		Consumer:     m.s.reseller,
		Stream:       relay.StreamDelivery,
	}, nil
}

func (m *msg) Ack() error {
	return m.s.settle(m.e, func(e *entry) { e.state, e.out = "acked", false })
}

func (m *msg) NakWithDelay(delay time.Duration) error {
	return m.s.settle(m.e, func(e *entry) { e.out, e.due = false, time.Now().Add(delay) })
}

func (m *msg) TermWithReason(reason string) error {
	return m.s.settle(m.e, func(e *entry) { e.state, e.reason, e.out = "termed", reason, false })
}

func (m *msg) InProgress() error {
	return m.s.settle(m.e, func(e *entry) { e.due = time.Now().Add(m.s.ackWait) })
}
