package delivery_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/delivery"
	"github.com/billrelay/billrelay/relay/delivery/deliverytest"
)

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func ev(id, item string) events.Event {
	return events.Event{SpecVersion: "1.0", ID: id, Source: "/dispatch", Type: events.TypeServiceStateChanged,
		Time: time.Now().UTC(), Seller: "sell-1", Account: "acc-1", Item: item, Data: json.RawMessage(`{"state":"active"}`)}
}

// publish stores evs in src and returns their sequences by event id.
func publish(t *testing.T, src *deliverytest.Source, evs ...events.Event) map[string]uint64 {
	t.Helper()
	seqs := map[string]uint64{}
	for _, e := range evs {
		seq, err := src.PublishEvent("res-1", e)
		if err != nil {
			t.Fatal(err)
		}
		seqs[e.ID] = seq
	}
	return seqs
}

// attempt is one call of a recordingSink.
type attempt struct {
	id      string
	attempt int
	err     error
}

// recordingSink is a hand-written fake receiver: script decides each
// attempt's answer; every attempt is kept, in order.
type recordingSink struct {
	mu       sync.Mutex
	script   func(context.Context, relay.Message) error
	attempts []attempt
}

func (s *recordingSink) Deliver(ctx context.Context, m relay.Message) error {
	err := s.script(ctx, m)
	s.mu.Lock()
	s.attempts = append(s.attempts, attempt{m.ID, m.Attempt, err})
	s.mu.Unlock()
	return err
}

func (s *recordingSink) all() []attempt {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.attempts)
}

func (s *recordingSink) delivered() []string {
	var out []string
	for _, a := range s.all() {
		if a.err == nil {
			out = append(out, a.id)
		}
	}
	return out
}

func (s *recordingSink) count(id string) int {
	n := 0
	for _, a := range s.all() {
		if a.id == id {
			n++
		}
	}
	return n
}

// start runs a dispatcher until the returned stop is called; stop returns
// what Run returned.
func start(t *testing.T, cfg delivery.DispatchConfig, sink relay.Sink, src delivery.Source) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(testCtx(t))
	done := make(chan error, 1)
	go func() { done <- delivery.NewDispatcher(cfg, sink, src).Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() { cancel(); err = <-done })
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// until waits on src's changes until cond holds.
func until(t *testing.T, src *deliverytest.Source, what string, cond func() bool) {
	t.Helper()
	if err := src.Until(testCtx(t), cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func settled(src *deliverytest.Source, seqs ...uint64) func() bool {
	return func() bool {
		for _, seq := range seqs {
			if info, _ := src.Message(seq); info.State != deliverytest.Acked && info.State != deliverytest.Termed {
				return false
			}
		}
		return true
	}
}

func opsOf(src *deliverytest.Source, seq uint64, kind deliverytest.OpKind) []deliverytest.Op {
	var out []deliverytest.Op
	for _, op := range src.Ops() {
		if op.Seq == seq && op.Kind == kind {
			out = append(out, op)
		}
	}
	return out
}

var fast = []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond}

// TestItemOrderWithoutHoldingBackOthers: a-2 fails three times; a-3 and
// a-4 wait for it, item b does not.
func TestItemOrderWithoutHoldingBackOthers(t *testing.T) {
	src := deliverytest.New(deliverytest.Config{})
	sink := &recordingSink{script: func(_ context.Context, m relay.Message) error {
		if m.ID == "a-2" && m.Attempt <= 3 {
			return errors.New("503")
		}
		return nil
	}}
	var evs []events.Event
	for i := 1; i <= 4; i++ {
		evs = append(evs, ev(fmt.Sprintf("a-%d", i), "item-a"), ev(fmt.Sprintf("b-%d", i), "item-b"))
	}
	seqs := publish(t, src, evs...)
	start(t, delivery.DispatchConfig{Concurrency: 4, Backoff: []time.Duration{10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond}}, sink, src)
	until(t, src, "every event acked", func() bool { return src.Unsettled() == 0 })

	var a, b []string
	for _, id := range sink.delivered() {
		if id[0] == 'a' {
			a = append(a, id)
		} else {
			b = append(b, id)
		}
	}
	if fmt.Sprint(a) != "[a-1 a-2 a-3 a-4]" || fmt.Sprint(b) != "[b-1 b-2 b-3 b-4]" {
		t.Fatalf("per item order broken: %v %v", a, b)
	}
	if d := sink.delivered(); slices.Index(d, "b-4") > slices.Index(d, "a-2") {
		t.Fatalf("item b waited for a-2: %v", d)
	}
	if n := len(opsOf(src, seqs["a-2"], deliverytest.OpNak)); n != 3 {
		t.Fatalf("a-2 naked %d times, want 3 (one per failure)", n)
	}
	if sink.count("a-3") != 1 {
		t.Fatalf("a-3 attempted %d times; it must wait for a-2, not fail", sink.count("a-3"))
	}
}

// memGates is a GateStore shared by two dispatcher lifetimes.
type memGates struct {
	mu sync.Mutex
	m  map[events.Key]delivery.Gate
}

func (g *memGates) Load(context.Context) (map[events.Key]delivery.Gate, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[events.Key]delivery.Gate{}
	for k, v := range g.m {
		out[k] = v
	}
	return out, nil
}

func (g *memGates) Save(_ context.Context, k events.Key, v delivery.Gate) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.m[k] = v
	return nil
}

func (g *memGates) Clear(_ context.Context, k events.Key) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.m, k)
	return nil
}

func (g *memGates) len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.m)
}

// TestGateKeepsItemOrderAcrossRestart: the first event of an item fails
// and waits for its retry; the dispatcher stops (its held events go back
// at once) and a new one starts. The item's later events must still wait
// for the failed one, and the gate is cleared once the item is through.
func TestGateKeepsItemOrderAcrossRestart(t *testing.T) {
	src := deliverytest.New(deliverytest.Config{})
	publish(t, src, ev("o1", "i"), ev("o2", "i"), ev("o3", "i"))
	gates := &memGates{m: map[events.Key]delivery.Gate{}}
	failed := make(chan struct{})
	cfg := delivery.DispatchConfig{Concurrency: 4, Backoff: []time.Duration{300 * time.Millisecond}, Gates: gates}

	first := &recordingSink{script: func(_ context.Context, m relay.Message) error {
		if m.ID == "o1" {
			close(failed)
			return errors.New("503")
		}
		return nil
	}}
	stop := start(t, cfg, first, src)
	<-failed
	if err := stop(); err != nil {
		t.Fatalf("first dispatcher: %v", err)
	}
	if gates.len() != 1 {
		t.Fatalf("%d gates stored after the failure, want 1", gates.len())
	}

	second := &recordingSink{script: func(context.Context, relay.Message) error { return nil }}
	start(t, cfg, second, src)
	until(t, src, "every event acked", func() bool { return src.Unsettled() == 0 })
	if got := fmt.Sprint(second.delivered()); got != "[o1 o2 o3]" {
		t.Fatalf("delivery order after restart %s, want [o1 o2 o3]", got)
	}
	until(t, src, "the gate cleared", func() bool { return gates.len() == 0 })
}

// TestPermanentFailureIsDeadLetteredThenTerminated: one attempt, a dead
// letter copy, then a terminate naming the reason; the item moves on. A
// dead letter copy that fails retries the event instead.
func TestPermanentFailureIsDeadLetteredThenTerminated(t *testing.T) {
	src := deliverytest.New(deliverytest.Config{})
	seqs := publish(t, src, ev("p-1", "item-p"), ev("p-2", "item-p"))
	var mu sync.Mutex
	dead := map[string]string{}
	copies := 0
	cfg := delivery.DispatchConfig{Backoff: fast, Dead: func(_ context.Context, m relay.Message, reason string) error {
		mu.Lock()
		defer mu.Unlock()
		if copies++; copies == 1 {
			return errors.New("dlq full")
		}
		dead[m.ID] = reason
		return nil
	}}
	sink := &recordingSink{script: func(_ context.Context, m relay.Message) error {
		if m.ID == "p-1" {
			return fmt.Errorf("%w: status 422: unknown item", relay.ErrPermanent)
		}
		return nil
	}}
	start(t, cfg, sink, src)
	until(t, src, "both settled", settled(src, seqs["p-1"], seqs["p-2"]))

	info, _ := src.Message(seqs["p-1"])
	mu.Lock()
	reason := dead["p-1"]
	mu.Unlock()
	if info.State != deliverytest.Termed || !strings.Contains(info.Reason, "unknown item") || reason != info.Reason {
		t.Fatalf("p-1: %+v, dead-letter reason %q", info, reason)
	}
	if n := len(opsOf(src, seqs["p-1"], deliverytest.OpNak)); n != 1 || sink.count("p-1") != 2 {
		t.Fatalf("p-1: %d naks and %d attempts; the failed copy must retry the event once", n, sink.count("p-1"))
	}
}

// TestGivesUpAfterTheSchedule: one attempt plus one per step of the
// schedule, then a dead letter and the item moves on.
func TestGivesUpAfterTheSchedule(t *testing.T) {
	src := deliverytest.New(deliverytest.Config{})
	seqs := publish(t, src, ev("g-1", "item-g"), ev("g-2", "item-g"))
	var reason string
	var mu sync.Mutex
	cfg := delivery.DispatchConfig{Backoff: fast, Dead: func(_ context.Context, _ relay.Message, r string) error {
		mu.Lock()
		reason = r
		mu.Unlock()
		return nil
	}}
	sink := &recordingSink{script: func(_ context.Context, m relay.Message) error {
		if m.ID == "g-1" {
			return errors.New("status 500")
		}
		return nil
	}}
	start(t, cfg, sink, src)
	until(t, src, "both settled", settled(src, seqs["g-1"], seqs["g-2"]))
	mu.Lock()
	defer mu.Unlock()
	if n := sink.count("g-1"); n != len(fast)+1 || !strings.HasPrefix(reason, "gave up after 4 attempts") {
		t.Fatalf("g-1: %d attempts, reason %q", n, reason)
	}
}

// TestRetryAfterIsHonoured: a receiver asking for an hour gets its hour,
// however short the schedule.
func TestRetryAfterIsHonoured(t *testing.T) {
	src := deliverytest.New(deliverytest.Config{})
	seqs := publish(t, src, ev("r-1", "item-r"))
	sink := &recordingSink{script: func(context.Context, relay.Message) error {
		return &relay.RetryAfterError{After: time.Hour, Err: errors.New("status 429")}
	}}
	start(t, delivery.DispatchConfig{Backoff: fast}, sink, src)
	until(t, src, "the nak", func() bool { return len(opsOf(src, seqs["r-1"], deliverytest.OpNak)) > 0 })
	if op := opsOf(src, seqs["r-1"], deliverytest.OpNak)[0]; op.Delay < time.Hour {
		t.Fatalf("naked for %s, want at least the hour asked for", op.Delay)
	}
}

// TestGoneStopsAndHandsEverythingBack: a receiver gone for good stops the
// dispatcher with ErrGone; nothing is terminated, what it held goes back at
// once.
func TestGoneStopsAndHandsEverythingBack(t *testing.T) {
	src := deliverytest.New(deliverytest.Config{})
	publish(t, src, ev("x-1", "item-x"), ev("x-2", "item-x"))
	gone := make(chan error, 2)
	cfg := delivery.DispatchConfig{Backoff: fast, Gone: func(_ context.Context, err error) { gone <- err }}
	sink := &recordingSink{script: func(context.Context, relay.Message) error {
		return fmt.Errorf("%w: status 410", relay.ErrGone)
	}}
	ctx := testCtx(t)
	err := delivery.NewDispatcher(cfg, sink, src).Run(ctx)
	if !errors.Is(err, relay.ErrGone) || len(gone) != 1 {
		t.Fatalf("Run: %v, Gone called %d times; want ErrGone and one call", err, len(gone))
	}
	for _, op := range src.Ops() {
		if op.Kind == deliverytest.OpTerm || (op.Kind == deliverytest.OpNak && op.Delay != 0) {
			t.Fatalf("%+v: a gone receiver must leave its events as they were", op)
		}
	}
	if src.Unsettled() != 2 || len(src.Ops()) != 2 {
		t.Fatalf("%d unsettled, ops %+v; want both handed back", src.Unsettled(), src.Ops())
	}
}

// TestHeldMessagesAreKeptAlive: while an item's first event is being
// delivered, its second waits in memory; both get InProgress, so that
// neither ack timer runs out and neither is delivered twice.
func TestHeldMessagesAreKeptAlive(t *testing.T) {
	src := deliverytest.New(deliverytest.Config{AckWait: 3 * time.Second})
	seqs := publish(t, src, ev("h-1", "item-h"), ev("h-2", "item-h"))
	release := make(chan struct{})
	sink := &recordingSink{script: func(ctx context.Context, m relay.Message) error {
		if m.ID == "h-1" {
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}}
	start(t, delivery.DispatchConfig{AckWait: 3 * time.Second}, sink, src)
	until(t, src, "both kept in progress", func() bool {
		return len(opsOf(src, seqs["h-1"], deliverytest.OpProgress)) > 0 && len(opsOf(src, seqs["h-2"], deliverytest.OpProgress)) > 0
	})
	close(release)
	until(t, src, "both acked", settled(src, seqs["h-1"], seqs["h-2"]))
	for _, seq := range []uint64{seqs["h-1"], seqs["h-2"]} {
		if info, _ := src.Message(seq); info.Delivered != 1 {
			t.Fatalf("seq %d handed out %d times, want once", seq, info.Delivered)
		}
	}
}

// TestFullHoldParksLaterEvents: with room for two events of an item in
// memory, the rest are handed back and come in again; order holds and a
// parked event's attempt is still its first.
func TestFullHoldParksLaterEvents(t *testing.T) {
	src := deliverytest.New(deliverytest.Config{})
	var evs []events.Event
	for i := 1; i <= 5; i++ {
		evs = append(evs, ev(fmt.Sprintf("k-%d", i), "item-k"))
	}
	seqs := publish(t, src, evs...)
	release := make(chan struct{})
	sink := &recordingSink{script: func(ctx context.Context, m relay.Message) error {
		if m.ID == "k-1" {
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}}
	start(t, delivery.DispatchConfig{Backoff: fast, HoldPerItem: 2}, sink, src)
	until(t, src, "k-3 parked", func() bool { return len(opsOf(src, seqs["k-3"], deliverytest.OpNak)) > 0 })
	close(release)
	until(t, src, "every event acked", func() bool { return src.Unsettled() == 0 })
	if got := fmt.Sprint(sink.delivered()); got != "[k-1 k-2 k-3 k-4 k-5]" {
		t.Fatalf("order %s", got)
	}
	for _, a := range sink.all() {
		if a.attempt != 1 {
			t.Fatalf("%s delivered as attempt %d; a parked event was not attempted", a.id, a.attempt)
		}
	}
}

// TestUnreadableMessageIsTerminated: a message whose subject names no
// item cannot be delivered in order; it is terminated, saying why.
func TestUnreadableMessageIsTerminated(t *testing.T) {
	src := deliverytest.New(deliverytest.Config{})
	seq := src.Publish("deliver.res-1.not-enough", nil, []byte(`{}`))
	sink := &recordingSink{script: func(context.Context, relay.Message) error { return nil }}
	start(t, delivery.DispatchConfig{}, sink, src)
	until(t, src, "the terminate", settled(src, seq))
	if info, _ := src.Message(seq); info.State != deliverytest.Termed || !strings.HasPrefix(info.Reason, "unreadable") || len(sink.all()) != 0 {
		t.Fatalf("%+v, %d attempts", info, len(sink.all()))
	}
}

// TestStopHandsHeldMessagesBackAtOnce: when the dispatcher stops, what it
// held (the event in delivery and the one waiting behind it) is naked
// without delay, for whoever delivers next.
func TestStopHandsHeldMessagesBackAtOnce(t *testing.T) {
	src := deliverytest.New(deliverytest.Config{})
	seqs := publish(t, src, ev("s-1", "item-s"), ev("s-2", "item-s"))
	inDelivery := make(chan struct{})
	var once sync.Once
	sink := &recordingSink{script: func(ctx context.Context, m relay.Message) error {
		once.Do(func() { close(inDelivery) }) // a stopping worker may try it once more
		<-ctx.Done()
		return ctx.Err()
	}}
	stop := start(t, delivery.DispatchConfig{}, sink, src)
	<-inDelivery
	until(t, src, "s-2 fetched", func() bool { info, _ := src.Message(seqs["s-2"]); return info.Delivered == 1 })
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, id := range []string{"s-1", "s-2"} {
		naks := opsOf(src, seqs[id], deliverytest.OpNak)
		if len(naks) != 1 || naks[0].Delay != 0 {
			t.Fatalf("%s: naks %+v, want one without delay", id, naks)
		}
	}
}
