// Package sinktest is the conformance suite every delivery sink passes:
// the relay's webhook sink, the agent's HTTP sink and its command sink. It
// drives the sink through the real dispatcher over a real embedded
// JetStream consumer and checks what the receiver saw: at least once, the
// same id on every attempt, each item in stream order without holding back
// other items, and retryable versus permanent failures.
package sinktest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/core"
	"github.com/billrelay/billrelay/relay/delivery"
	"github.com/rs/zerolog"
)

// Target is one sink with the receiver at its far end.
type Target struct {
	Sink     relay.Sink
	Receiver Receiver
}

// Run runs the suite; newTarget makes a fresh sink and receiver per case.
func Run(t *testing.T, newTarget func(t *testing.T) Target) {
	t.Run("AtLeastOnceWithTheSameID", func(t *testing.T) { atLeastOnce(t, newTarget(t)) })
	t.Run("ItemOrderWithoutHoldingBackOthers", func(t *testing.T) { itemOrder(t, newTarget(t)) })
	t.Run("PermanentFailureIsDeadLetteredNotRetried", func(t *testing.T) { permanent(t, newTarget(t)) })
	t.Run("GivesUpAfterTheSchedule", func(t *testing.T) { givesUp(t, newTarget(t)) })
}

var backoff = []time.Duration{20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond}

// env is a relay with one seller and one reseller, and a dispatcher
// delivering that reseller's events to the target.
type env struct {
	t      *testing.T
	r      *core.Relay
	tg     Target
	mu     sync.Mutex
	dead   map[string]string // event id → reason
	cancel context.CancelFunc
	done   chan struct{}
}

func start(t *testing.T, tg Target) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	r, err := core.Open(ctx, relay.Config{DataDir: t.TempDir(), SyncAlways: true, AckWait: 2 * time.Second}, zerolog.Nop())
	if err != nil {
		t.Fatalf("open relay: %v", err)
	}
	e := &env{t: t, r: r, tg: tg, dead: map[string]string{}, cancel: cancel, done: make(chan struct{})}
	t.Cleanup(func() { cancel(); <-e.done; r.Close() })
	if _, _, err := r.RegisterSeller(ctx, "sell-1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.RegisterReseller(ctx, relay.ResellerSpec{ID: "res-1", Seller: "sell-1", Accounts: []string{"acc-1"}}); err != nil {
		t.Fatal(err)
	}
	cons, err := r.JetStream().Consumer(ctx, relay.StreamDelivery, "res-1")
	if err != nil {
		t.Fatal(err)
	}
	d := delivery.NewDispatcher(delivery.DispatchConfig{
		Concurrency: 4, Backoff: backoff, AckWait: 2 * time.Second, BreakerThreshold: 1000,
		Dead: func(_ context.Context, m relay.Message, reason string) error {
			e.mu.Lock()
			e.dead[m.ID] = reason
			e.mu.Unlock()
			return nil
		},
	}, tg.Sink, delivery.ConsumerSource{Consumer: cons})
	go func() { defer close(e.done); _ = d.Run(ctx) }()
	return e
}

func (e *env) publish(evs ...events.Event) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := e.r.Publish(ctx, relay.Principal{Role: relay.RoleSeller, ID: "sell-1"}, evs); err != nil {
		e.t.Fatalf("publish: %v", err)
	}
}

func ev(id, item string) events.Event {
	return events.Event{SpecVersion: "1.0", ID: id, Source: "/sinktest", Type: events.TypeServiceStateChanged,
		Time: time.Now().UTC(), Seller: "sell-1", Account: "acc-1", Item: item,
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

func delivered(as []Attempt) []string {
	var out []string
	for _, a := range as {
		if a.Outcome == OK {
			out = append(out, a.EventID)
		}
	}
	return out
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
		n := 0
		for _, a := range got {
			if a.EventID == id {
				n++
			}
		}
		if n < 2 || !slices.Contains(delivered(got), id) {
			t.Fatalf("event %s: %d attempts; want a failed one and a delivered one with the same id", id, n)
		}
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
	n := 0
	for _, a := range got {
		if a.EventID == "p-1" {
			n++
		}
	}
	e.mu.Lock()
	reason := e.dead["p-1"]
	e.mu.Unlock()
	if n != 1 || reason == "" {
		t.Fatalf("p-1: %d attempts, dead-letter reason %q; want one attempt and a reason", n, reason)
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
	n := 0
	for _, a := range got {
		if a.EventID == "g-1" {
			n++
		}
	}
	e.mu.Lock()
	reason := e.dead["g-1"]
	e.mu.Unlock()
	if n != len(backoff)+1 || reason == "" {
		t.Fatalf("g-1: %d attempts, reason %q; want %d attempts then a dead letter", n, reason, len(backoff)+1)
	}
}
