package sinktest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/delivery"
	"github.com/billrelay/billrelay/relay/delivery/deliverytest"
	"github.com/billrelay/billrelay/relay/node"
	"github.com/billrelay/billrelay/relay/node/nodetest"
	"github.com/billrelay/billrelay/relay/pull"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The suite's tenants: one seller, one reseller of one account.
const (
	seller   = "sell-1"
	reseller = "res-1"
	account  = "acc-1"
)

// Backend stores the suite's events for the reseller and hands them out
// as a [delivery.Source].
type Backend interface {
	Publish(t *testing.T, evs ...events.Event)
	Source() delivery.Source
}

// DeadLetters is implemented by a backend that keeps a dead letter itself
// when a delivery is terminated (the relay does); the suite then checks
// that a rejected event arrives there.
type DeadLetters interface {
	DeadLettered(t *testing.T, eventID string) bool
}

// memory is the default backend: an in-memory consumer, no NATS.
type memory struct{ src *deliverytest.Source }

func newMemory() *memory {
	return &memory{src: deliverytest.New(deliverytest.Config{AckWait: ackWait})}
}

func (m *memory) Publish(t *testing.T, evs ...events.Event) {
	t.Helper()
	for _, e := range evs {
		if _, err := m.src.PublishEvent(reseller, e); err != nil {
			t.Fatal(err)
		}
	}
}

func (m *memory) Source() delivery.Source { return m.src }

// RelayPull is the pull path as a backend: a real relay (embedded NATS on
// t.TempDir()) whose reseller's events are taken and settled through its
// inbox ([pull.Puller]), as a reseller's puller or the agent
// in HTTP mode does. The relay is closed when t ends.
func RelayPull(t *testing.T) Backend {
	t.Helper()
	r := nodetest.Open(t, relay.Config{AckWait: ackWait})
	nodetest.Seller(t, r, seller)
	nodetest.Reseller(t, r, reseller, seller, account)
	return &relayPull{r: r}
}

type relayPull struct{ r *node.Node }

func (b *relayPull) Publish(t *testing.T, evs ...events.Event) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := b.r.Ingest().Publish(ctx, relay.Principal{Role: relay.RoleSeller, ID: seller}, evs); err != nil {
		t.Fatalf("publish: %v", err)
	}
}

func (b *relayPull) Source() delivery.Source { return pullSource{r: b.r} }

func (b *relayPull) DeadLettered(t *testing.T, id string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dls, err := b.r.Admin().DeadLetters(ctx, reseller, true, 1000)
	if err != nil {
		t.Fatalf("dead letters: %v", err)
	}
	for _, d := range dls {
		if relay.EventIDOf(d.Event) == id {
			return true
		}
	}
	return false
}

// pullSource takes the reseller's events through the pull API.
type pullSource struct{ r *node.Node }

func (s pullSource) Fetch(ctx context.Context, n int, wait time.Duration) ([]delivery.Delivered, error) {
	ds, err := s.r.Inbox().Pull(ctx, relay.RoleReseller, reseller, min(n, relay.MaxPull), wait)
	if err != nil {
		return nil, err
	}
	out := make([]delivery.Delivered, 0, len(ds))
	for _, d := range ds {
		m, err := newPulled(s.r, d)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// pulled is one pulled event, settled through the ack API.
type pulled struct {
	r       *node.Node
	d       pull.Delivery
	subject string
	header  nats.Header
}

func newPulled(r *node.Node, d pull.Delivery) (*pulled, error) {
	var e events.Event
	if err := json.Unmarshal(d.Event, &e); err != nil {
		return nil, fmt.Errorf("pulled event: %w", err)
	}
	h := nats.Header{}
	h.Set(relay.HeaderEventID, e.ID)
	h.Set(relay.HeaderType, e.Type)
	return &pulled{r: r, d: d, subject: events.DeliverSubject(reseller, e.Key()), header: h}, nil
}

func (m *pulled) Data() []byte         { return m.d.Event }
func (m *pulled) Headers() nats.Header { return m.header }
func (m *pulled) Subject() string      { return m.subject }

func (m *pulled) Metadata() (*jetstream.MsgMetadata, error) {
	return &jetstream.MsgMetadata{NumDelivered: m.d.Attempt, Sequence: jetstream.SequencePair{Stream: m.d.Seq}}, nil
}

func (m *pulled) settle(req pull.AckRequest) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := m.r.Inbox().Ack(ctx, relay.RoleReseller, reseller, req)
	if err != nil {
		return err
	}
	if len(res.Errors) > 0 {
		return fmt.Errorf("relay refused: %s", res.Errors[0].Reason)
	}
	return nil
}

func (m *pulled) Ack() error { return m.settle(pull.AckRequest{Ack: []string{m.d.AckID}}) }

func (m *pulled) NakWithDelay(d time.Duration) error {
	return m.settle(pull.AckRequest{Nak: []pull.NakItem{{AckID: m.d.AckID, Delay: d.String()}}})
}

func (m *pulled) TermWithReason(reason string) error {
	return m.settle(pull.AckRequest{Term: []pull.Term{{AckID: m.d.AckID, Reason: reason}}})
}

func (m *pulled) InProgress() error { return m.settle(pull.AckRequest{Progress: []string{m.d.AckID}}) }

// settle is one settle operation the dispatcher sent its source.
type settle struct {
	kind   string // "ack", "nak", "term", "progress"
	delay  time.Duration
	reason string
}

// watched records, per event id, every settle operation the dispatcher
// sends through a source, whatever the backend.
type watched struct {
	src delivery.Source
	mu  sync.Mutex
	ops map[string][]settle
}

func (w *watched) Fetch(ctx context.Context, n int, wait time.Duration) ([]delivery.Delivered, error) {
	ds, err := w.src.Fetch(ctx, n, wait)
	for i, d := range ds {
		id := d.Headers().Get(relay.HeaderEventID)
		if id == "" {
			id = relay.EventIDOf(d.Data())
		}
		ds[i] = &watchedMsg{Delivered: d, w: w, id: id}
	}
	return ds, err
}

func (w *watched) add(id string, s settle) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ops[id] = append(w.ops[id], s)
}

// of lists the operations of kind sent for event id.
func (w *watched) of(id, kind string) []settle {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []settle
	for _, s := range w.ops[id] {
		if s.kind == kind {
			out = append(out, s)
		}
	}
	return out
}

type watchedMsg struct {
	delivery.Delivered
	w  *watched
	id string
}

func (m *watchedMsg) Ack() error {
	m.w.add(m.id, settle{kind: "ack"})
	return m.Delivered.Ack()
}

func (m *watchedMsg) NakWithDelay(d time.Duration) error {
	m.w.add(m.id, settle{kind: "nak", delay: d})
	return m.Delivered.NakWithDelay(d)
}

func (m *watchedMsg) TermWithReason(reason string) error {
	m.w.add(m.id, settle{kind: "term", reason: reason})
	return m.Delivered.TermWithReason(reason)
}

func (m *watchedMsg) InProgress() error {
	m.w.add(m.id, settle{kind: "progress"})
	return m.Delivered.InProgress()
}
