package deliverytest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
)

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func fetchOne(t *testing.T, s *Source) (seq uint64, delivered uint64, settle func(string, time.Duration) error) {
	t.Helper()
	ms, err := s.Fetch(testCtx(t), 1, 20*time.Second)
	if err != nil || len(ms) != 1 {
		t.Fatalf("fetch: %d messages, %v", len(ms), err)
	}
	md, _ := ms[0].Metadata()
	m := ms[0]
	return md.Sequence.Stream, md.NumDelivered, func(kind string, d time.Duration) error {
		switch kind {
		case "ack":
			return m.Ack()
		case "nak":
			return m.NakWithDelay(d)
		case "term":
			return m.TermWithReason("no")
		}
		return m.InProgress()
	}
}

// TestFetchTakesNoMoreThanAskedAndWaitsForTheFirst: a fetch hands out at
// most n, and an empty source answers an empty fetch without waiting when
// wait is zero.
func TestFetchTakesNoMoreThanAskedAndWaitsForTheFirst(t *testing.T) {
	s := New(Config{})
	if ms, err := s.Fetch(testCtx(t), 5, 0); err != nil || len(ms) != 0 {
		t.Fatalf("empty fetch: %d, %v", len(ms), err)
	}
	for range 3 {
		s.Publish("a", nil, []byte("x"))
	}
	ms, err := s.Fetch(testCtx(t), 2, time.Second)
	if err != nil || len(ms) != 2 {
		t.Fatalf("fetch 2 of 3: %d, %v", len(ms), err)
	}
	got := make(chan int)
	go func() { ms, _ := s.Fetch(context.Background(), 5, 20*time.Second); got <- len(ms) }()
	if n := <-got; n != 1 {
		t.Fatalf("second fetch got %d, want the one left", n)
	}
}

// TestNakComesBackAfterItsDelayAndAckWaitRedelivers: a nak hands the
// message out again (as a second delivery); an ack wait that runs out
// does too; an ack settles it for good.
func TestNakComesBackAfterItsDelayAndAckWaitRedelivers(t *testing.T) {
	s := New(Config{AckWait: 50 * time.Millisecond})
	s.Publish("a", nil, nil)
	seq, n, settle := fetchOne(t, s)
	if seq != 1 || n != 1 {
		t.Fatalf("first delivery seq %d n %d", seq, n)
	}
	if err := settle("nak", 10*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	_, n, _ = fetchOne(t, s) // not settled: its ack wait runs out
	if n != 2 {
		t.Fatalf("after nak: delivery %d, want 2", n)
	}
	_, n, settle = fetchOne(t, s)
	if n != 3 {
		t.Fatalf("after ack wait: delivery %d, want 3", n)
	}
	if err := settle("ack", 0); err != nil {
		t.Fatal(err)
	}
	if err := settle("ack", 0); !errors.Is(err, ErrSettled) {
		t.Fatalf("second ack: %v, want ErrSettled", err)
	}
	if info, _ := s.Message(1); info.State != Acked || s.Unsettled() != 0 {
		t.Fatalf("after ack: %+v, %d unsettled", info, s.Unsettled())
	}
}

// TestRedeliveriesComeFirstAndMaxDeliverStops: a message due again is
// handed out before newer ones; after MaxDeliver deliveries it is not.
func TestRedeliveriesComeFirstAndMaxDeliverStops(t *testing.T) {
	s := New(Config{MaxDeliver: 2})
	s.Publish("a", nil, nil)
	_, _, settle := fetchOne(t, s)
	s.Publish("b", nil, nil)
	if err := settle("nak", 0); err != nil {
		t.Fatal(err)
	}
	seq, n, settle := fetchOne(t, s)
	if seq != 1 || n != 2 {
		t.Fatalf("got seq %d delivery %d; want the redelivery of 1 first", seq, n)
	}
	if err := settle("nak", 0); err != nil {
		t.Fatal(err)
	}
	if seq, _, _ = fetchOne(t, s); seq != 2 {
		t.Fatalf("got seq %d; 1 reached MaxDeliver and must not come back", seq)
	}
	if info, _ := s.Message(1); info.State != Exhausted {
		t.Fatalf("seq 1: %+v, want exhausted", info)
	}
}

// TestPublishEventIsReadableAsTheRelayStoresIt: the subject names the
// reseller and the item; the headers carry the event id.
func TestPublishEventIsReadableAsTheRelayStoresIt(t *testing.T) {
	s := New(Config{})
	e := events.Event{ID: "e-1", Type: events.TypeServiceStateChanged, Seller: "s", Account: "a", Item: "item-1"}
	if _, err := s.PublishEvent("res-1", e); err != nil {
		t.Fatal(err)
	}
	ms, err := s.Fetch(testCtx(t), 1, time.Second)
	if err != nil || len(ms) != 1 {
		t.Fatalf("fetch: %d, %v", len(ms), err)
	}
	k, err := relay.KeyOfSubject(ms[0].Subject())
	if err != nil || k != e.Key() || ms[0].Headers().Get(relay.HeaderEventID) != "e-1" {
		t.Fatalf("subject %q key %+v (%v), id %q", ms[0].Subject(), k, err, ms[0].Headers().Get(relay.HeaderEventID))
	}
}
