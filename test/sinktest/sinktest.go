// Package sinktest is the conformance suite every way out of the relay
// passes: the webhook sink, the TMF hub sink, the agent's HTTP and command
// sinks, and the pull path. Each case drives a sink through the real
// dispatcher and checks what the receiver saw and what the dispatcher told
// its source: at least once, the same id on every attempt, each item in
// stream order without holding back other items, retryable versus
// permanent failures, and, where the sink can, signatures, a receiver gone
// for good and Retry-After.
//
// Events come from an in-memory source (relay/delivery/deliverytest), so
// a case needs no NATS, the way watermill's gochannel runs its pubsub
// suite; [RelayPull] runs the same cases over a real relay's pull API.
// A new sink proves itself by passing [Run]; what it cannot do it says in
// [Features], and those cases are skipped.
package sinktest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/delivery"
)

// Target is one way out: a sink with the receiver at its far end.
type Target struct {
	Sink     relay.Sink
	Receiver Receiver
	// Features says what the sink and its receiver can do.
	Features Features
	// Backend serves the events; nil is an in-memory source.
	Backend Backend
}

// Features are what differs between ways out; a case needing a feature
// the target lacks is skipped.
type Features struct {
	// Signed: the receiver verifies every request (HTTPReceiver with a
	// check) and every attempt must pass.
	Signed bool
	// Gone: the receiver can say it is gone for good (HTTP 410); the sink
	// must report relay.ErrGone, which stops delivery with every event
	// kept.
	Gone bool
	// RetryAfter: the receiver can ask for a later retry (HTTP 429 with
	// Retry-After); the sink must pass the delay on.
	RetryAfter bool
}

// Run runs the suite; newTarget makes a fresh sink, receiver and backend
// per case.
func Run(t *testing.T, newTarget func(t *testing.T) Target) {
	cases := []struct {
		name string
		need func(Features) bool
		run  func(*testing.T, Target)
	}{
		{"AtLeastOnceWithTheSameID", nil, atLeastOnce},
		{"ItemOrderWithoutHoldingBackOthers", nil, itemOrder},
		{"PermanentFailureIsDeadLetteredNotRetried", nil, permanent},
		{"GivesUpAfterTheSchedule", nil, givesUp},
		{"EveryAttemptIsSigned", func(f Features) bool { return f.Signed }, signed},
		{"GoneStopsDeliveryAndKeepsEvents", func(f Features) bool { return f.Gone }, gone},
		{"RetryAfterIsHonoured", func(f Features) bool { return f.RetryAfter }, retryAfter},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tg := newTarget(t)
			if c.need != nil && !c.need(tg.Features) {
				t.Skip("the target does not have this feature")
			}
			c.run(t, tg)
		})
	}
}

var backoff = []time.Duration{20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond}

// ackWait of the suite's consumers.
const ackWait = 2 * time.Second

// env is a backend with one reseller and a dispatcher delivering its
// events to the target.
type env struct {
	t      *testing.T
	tg     Target
	src    *watched
	mu     sync.Mutex
	dead   map[string]string // event id → reason
	goneCh chan error        // Run's error once it stopped by itself
}

func start(t *testing.T, tg Target) *env {
	t.Helper()
	if tg.Backend == nil {
		tg.Backend = newMemory()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	e := &env{t: t, tg: tg, src: &watched{src: tg.Backend.Source(), ops: map[string][]settle{}},
		dead: map[string]string{}, goneCh: make(chan error, 1)}
	d := delivery.NewDispatcher(delivery.DispatchConfig{
		Concurrency: 4, Backoff: backoff, AckWait: ackWait, BreakerThreshold: 1000,
		Dead: func(_ context.Context, m relay.Message, reason string) error {
			e.mu.Lock()
			e.dead[m.ID] = reason
			e.mu.Unlock()
			return nil
		},
	}, tg.Sink, e.src)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := d.Run(ctx); err != nil {
			e.goneCh <- err
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return e
}

func (e *env) publish(evs ...events.Event) {
	e.t.Helper()
	e.tg.Backend.Publish(e.t, evs...)
}

func ev(id, item string) events.Event {
	return events.Event{SpecVersion: "1.0", ID: id, Source: "/sinktest", Type: events.TypeServiceStateChanged,
		Time: time.Now().UTC(), Seller: seller, Account: account, Item: item,
		Data: json.RawMessage(`{"state":"active"}`)}
}

// waitUntil waits, on the receiver's change signal, until cond holds.
func (e *env) waitUntil(what string, cond func([]Attempt) bool) []Attempt {
	e.t.Helper()
	deadline := time.After(45 * time.Second)
	for {
		ch := e.tg.Receiver.Changed()
		if a := e.tg.Receiver.Attempts(); cond(a) {
			return a
		}
		select {
		case <-ch:
		case <-deadline:
			e.t.Fatalf("timed out waiting for %s; attempts: %+v", what, e.tg.Receiver.Attempts())
		}
	}
}

// waitSettled polls, boundedly, until the dispatcher sent kind for id.
func (e *env) waitSettled(id, kind string) []settle {
	e.t.Helper()
	e.poll(fmt.Sprintf("a %s of %s", kind, id), func() bool { return len(e.src.of(id, kind)) > 0 })
	return e.src.of(id, kind)
}

// poll checks cond every 10ms until it holds, for at most 45s.
func (e *env) poll(what string, cond func() bool) {
	e.t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(45 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			e.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (e *env) deadReason(id string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.dead[id]
}

func delivered(as []Attempt) []string {
	var out []string
	for _, a := range as {
		if a.Outcome == OK {
			out = append(out, a.EventID)
		}
	}
	return out
}

func attemptsOf(as []Attempt, id string) int {
	n := 0
	for _, a := range as {
		if a.EventID == id {
			n++
		}
	}
	return n
}

func atLeastOnce(t *testing.T, tg Target) {
	tg.Receiver.Script(func(a Attempt) Outcome {
		if a.N == 1 {
			return Fail
		}
		return OK
	})
	e := start(t, tg)
	ids := []string{"alo-1", "alo-2", "alo-3", "alo-4", "alo-5"}
	for i, id := range ids {
		e.publish(ev(id, fmt.Sprintf("item-%d", i)))
	}
	got := e.waitUntil("every event delivered", func(as []Attempt) bool { return len(delivered(as)) >= len(ids) })
	for _, id := range ids {
		if n := attemptsOf(got, id); n < 2 || !slices.Contains(delivered(got), id) {
			t.Fatalf("event %s: %d attempts; want a failed one and a delivered one with the same id", id, n)
		}
		e.waitSettled(id, "ack")
	}
}

func itemOrder(t *testing.T, tg Target) {
	tg.Receiver.Script(func(a Attempt) Outcome {
		if a.EventID == "a-2" && a.N <= 3 {
			return Fail
		}
		return OK
	})
	e := start(t, tg)
	var batch []events.Event
	for i := 1; i <= 4; i++ {
		batch = append(batch, ev(fmt.Sprintf("a-%d", i), "item-a"), ev(fmt.Sprintf("b-%d", i), "item-b"))
	}
	e.publish(batch...)
	got := e.waitUntil("both items delivered", func(as []Attempt) bool { return len(delivered(as)) >= 8 })
	var a, b []string
	for _, id := range delivered(got) {
		if id[0] == 'a' {
			a = append(a, id)
		} else {
			b = append(b, id)
		}
	}
	if fmt.Sprint(a) != "[a-1 a-2 a-3 a-4]" || fmt.Sprint(b) != "[b-1 b-2 b-3 b-4]" {
		t.Fatalf("per item order broken: item-a %v, item-b %v", a, b)
	}
	seq := delivered(got)
	if slices.Index(seq, "b-4") > slices.Index(seq, "a-2") {
		t.Fatalf("item-b waited for item-a's failing a-2: %v", seq)
	}
	for i, at := range got {
		if at.EventID == "a-3" && slices.Index(seq, "a-2") > slices.Index(delivered(got[:i+1]), "a-3") {
			t.Fatalf("a-3 attempted before a-2 was delivered: %+v", got)
		}
	}
}

func permanent(t *testing.T, tg Target) {
	tg.Receiver.Script(func(a Attempt) Outcome {
		if a.EventID == "p-1" {
			return Reject
		}
		return OK
	})
	e := start(t, tg)
	e.publish(ev("p-1", "item-p"), ev("p-2", "item-p"))
	got := e.waitUntil("the item to move on", func(as []Attempt) bool { return slices.Contains(delivered(as), "p-2") })
	if n, reason := attemptsOf(got, "p-1"), e.deadReason("p-1"); n != 1 || reason == "" {
		t.Fatalf("p-1: %d attempts, dead-letter reason %q; want one attempt and a reason", n, reason)
	}
	terms := e.waitSettled("p-1", "term")
	if len(terms) != 1 || terms[0].reason != e.deadReason("p-1") || len(e.src.of("p-1", "nak")) != 0 {
		t.Fatalf("p-1 settled with %+v and %d naks; want one terminate with the dead-letter reason", terms, len(e.src.of("p-1", "nak")))
	}
	if dl, ok := tg.Backend.(DeadLetters); ok {
		e.poll("p-1 in the backend's dead letters", func() bool { return dl.DeadLettered(t, "p-1") })
	}
}

func givesUp(t *testing.T, tg Target) {
	tg.Receiver.Script(func(a Attempt) Outcome {
		if a.EventID == "g-1" {
			return Fail
		}
		return OK
	})
	e := start(t, tg)
	e.publish(ev("g-1", "item-g"), ev("g-2", "item-g"))
	got := e.waitUntil("g-2 after g-1 gave up", func(as []Attempt) bool { return slices.Contains(delivered(as), "g-2") })
	if n, reason := attemptsOf(got, "g-1"), e.deadReason("g-1"); n != len(backoff)+1 || reason == "" {
		t.Fatalf("g-1: %d attempts, reason %q; want %d attempts then a dead letter", n, reason, len(backoff)+1)
	}
	if naks := e.src.of("g-1", "nak"); len(naks) != len(backoff) {
		t.Fatalf("g-1 naked %d times, want once per step of the schedule (%d)", len(naks), len(backoff))
	}
}

func signed(t *testing.T, tg Target) {
	tg.Receiver.Script(func(a Attempt) Outcome {
		if a.N == 1 {
			return Fail
		}
		return OK
	})
	e := start(t, tg)
	e.publish(ev("s-1", "item-s"), ev("s-2", "item-t"))
	got := e.waitUntil("both delivered", func(as []Attempt) bool { return len(delivered(as)) >= 2 })
	for _, a := range got {
		if !a.Verified {
			t.Fatalf("attempt %d of %s was not verified: %+v", a.N, a.EventID, got)
		}
	}
}

func gone(t *testing.T, tg Target) {
	tg.Receiver.Script(func(a Attempt) Outcome {
		if a.EventID == "x-1" {
			return Gone
		}
		return OK
	})
	e := start(t, tg)
	e.publish(ev("x-1", "item-x"), ev("x-2", "item-x"))
	select {
	case err := <-e.goneCh:
		if !errors.Is(err, relay.ErrGone) {
			t.Fatalf("dispatcher stopped with %v, want relay.ErrGone", err)
		}
	case <-time.After(45 * time.Second):
		t.Fatal("the dispatcher kept going after the receiver said it is gone")
	}
	got := e.tg.Receiver.Attempts()
	if attemptsOf(got, "x-1") != 1 || attemptsOf(got, "x-2") != 0 || e.deadReason("x-1") != "" {
		t.Fatalf("attempts %+v, dead letter %q; want x-1 tried once, x-2 not, nothing dead", got, e.deadReason("x-1"))
	}
	for _, id := range []string{"x-1", "x-2"} {
		if terms, acks := e.src.of(id, "term"), e.src.of(id, "ack"); len(terms)+len(acks) != 0 {
			t.Fatalf("%s settled (%+v %+v); a gone receiver's events are kept", id, terms, acks)
		}
	}
	if naks := e.src.of("x-1", "nak"); len(naks) != 1 || naks[0].delay != 0 {
		t.Fatalf("x-1 naks %+v; want it handed back at once", naks)
	}
}

func retryAfter(t *testing.T, tg Target) {
	tg.Receiver.Script(func(a Attempt) Outcome {
		if a.EventID == "r-1" {
			return Busy
		}
		return OK
	})
	e := start(t, tg)
	e.publish(ev("r-1", "item-r"), ev("r-2", "item-q"))
	e.waitUntil("r-2 delivered", func(as []Attempt) bool { return slices.Contains(delivered(as), "r-2") })
	naks := e.waitSettled("r-1", "nak")
	if naks[0].delay < busyFor {
		t.Fatalf("r-1 naked for %s; the receiver asked for %s", naks[0].delay, busyFor)
	}
	if reason := e.deadReason("r-1"); reason != "" || len(e.src.of("r-1", "term")) != 0 {
		t.Fatalf("r-1 dead-lettered (%q); a busy receiver is retried", reason)
	}
}
