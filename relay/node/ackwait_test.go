package node_test

import (
	"strings"
	"testing"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/node"
	"github.com/billrelay/billrelay/relay/node/nodetest"
	"github.com/billrelay/billrelay/relay/pull"
)

// shortAckWait is the ack wait of these tests: short, so that an event
// can be several ack waits old before it is pulled.
const shortAckWait = 2 * time.Second

// setupShortAckWait is setup with a relay whose ack wait is shortAckWait
// (and maxDeliver, 0 for the default).
func setupShortAckWait(t *testing.T, maxDeliver int) world {
	t.Helper()
	r := nodetest.Open(t, relay.Config{AckWait: shortAckWait, MaxDeliver: maxDeliver})
	seller, _ := nodetest.Seller(t, r, "sell-1")
	nodetest.Reseller(t, r, "res-a", "sell-1", "acc-77")
	return world{r: r, seller: seller}
}

// waitBacklogAge polls the reseller's status until its oldest unacked
// event is older than age: a reseller that was down that long.
func waitBacklogAge(t *testing.T, r *node.Node, reseller string, age time.Duration) {
	t.Helper()
	ctx := testCtx(t)
	deadline := time.Now().Add(age + 30*time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := r.Admin().ResellerStatus(ctx, reseller)
		if err == nil && st.OldestUnacked > age {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("backlog of %s never got %s old: %+v, %v", reseller, age, st, err)
		}
		<-tick.C
	}
}

func byID(t *testing.T, ds []pull.Delivery) map[string]pull.Delivery {
	t.Helper()
	out := map[string]pull.Delivery{}
	for i, id := range ids(ds) {
		out[id] = ds[i]
	}
	return out
}

// TestAckContractAfterDowntime: events stored several ack waits before the
// reseller's first pull are acked, naked with a delay, terminated and kept
// alive within the ack wait of that pull, and each is reported applied:
// the ack wait counts from the delivery, not from when the event was
// stored. The naked one comes back after its delay (not at the ack wait),
// the acked ones never, the terminated one is a dead letter with its
// reason.
func TestAckContractAfterDowntime(t *testing.T) {
	w := setupShortAckWait(t, 0)
	ctx := testCtx(t)
	batch := []events.Event{event("old-ack", "acc-77", "i1", "active"), event("old-nak", "acc-77", "i2", "active"),
		event("old-term", "acc-77", "i3", "active"), event("old-prog", "acc-77", "i4", "active")}
	if _, err := w.r.Ingest().Publish(ctx, w.seller, batch); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	waitBacklogAge(t, w.r, "res-a", 3*shortAckWait)

	got := byID(t, pullN(t, w.r, "res-a", 4))
	const delay = 3 * shortAckWait
	nakAt := time.Now()
	res, err := w.r.Inbox().Ack(ctx, relay.RoleReseller, "res-a", pull.AckRequest{
		Ack:      []string{got["old-ack"].AckID},
		Nak:      []pull.NakItem{{AckID: got["old-nak"].AckID, Delay: delay.String()}},
		Term:     []pull.Term{{AckID: got["old-term"].AckID, Reason: "unknown item i3"}},
		Progress: []string{got["old-prog"].AckID},
	})
	if err != nil || res.Acked != 1 || res.Naked != 1 || res.Termed != 1 || res.InProgress != 1 || len(res.Errors) != 0 {
		t.Fatalf("settling a backlog within the ack wait of its pull: %+v, %v; want each applied", res, err)
	}
	ackAll(t, w.r, "res-a", []pull.Delivery{got["old-prog"]})

	back := pullN(t, w.r, "res-a", 1)
	// A lower bound JetStream guarantees for a nak it received: not a
	// timing guess. An ignored nak comes back after the ack wait instead.
	if held := time.Since(nakAt); ids(back)[0] != "old-nak" || back[0].Attempt != 2 || held < delay {
		t.Fatalf("after the nak got %v attempt %d after %s; want old-nak attempt 2 after its %s delay", ids(back), back[0].Attempt, held, delay)
	}
	ackAll(t, w.r, "res-a", back)
	if ds, err := w.r.Inbox().Pull(ctx, relay.RoleReseller, "res-a", 10, 0); err != nil || len(ds) != 0 {
		t.Fatalf("after acking everything, more than an ack wait later: %v, %v; want nothing", ids(ds), err)
	}
	dl := waitDLQ(t, w.r, "res-a", 1)
	if len(dl) != 1 || !strings.Contains(string(dl[0].Event), `"id":"old-term"`) || !strings.Contains(dl[0].Reason, "unknown item i3") {
		t.Fatalf("dead letters %+v; want old-term alone, with its reason", dl)
	}
}

// TestExpiredDeliveryIsReported: a delivery held past the ack wait is
// still reported expired (its nak is not sent: JetStream is delivering the
// event again already), and progress does not bring it back to life.
func TestExpiredDeliveryIsReported(t *testing.T) {
	w := setupShortAckWait(t, 0)
	ctx := testCtx(t)
	if _, err := w.r.Ingest().Publish(ctx, w.seller, []events.Event{event("slow", "acc-77", "i1", "active")}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	first := pullN(t, w.r, "res-a", 1)
	again := pullN(t, w.r, "res-a", 1) // comes only once the first delivery's ack wait ran out
	if again[0].Attempt != 2 {
		t.Fatalf("second delivery attempt %d, want 2", again[0].Attempt)
	}
	res, err := w.r.Inbox().Ack(ctx, relay.RoleReseller, "res-a", pull.AckRequest{Ack: []string{first[0].AckID},
		Nak: []pull.NakItem{{AckID: first[0].AckID, Delay: "1m"}}, Progress: []string{first[0].AckID}})
	if err != nil || res.Acked != 0 || res.Naked != 0 || res.InProgress != 0 || len(res.Errors) != 3 {
		t.Fatalf("settling an expired delivery: %+v, %v; want each reported ack_wait expired", res, err)
	}
	for _, e := range res.Errors {
		if !strings.Contains(e.Reason, "ack_wait expired") {
			t.Fatalf("settling an expired delivery: %+v; want each reported ack_wait expired", res)
		}
	}
	ackAll(t, w.r, "res-a", again)
}

// TestProgressKeepsFinalDeliveryAlive: a delivery on its last allowed
// attempt that the reseller keeps alive with progress (an agent holding it
// behind an earlier event of its item) is not dead-lettered when the ack
// wait of its pull passes: its timer runs from its last progress, as
// JetStream's does.
func TestProgressKeepsFinalDeliveryAlive(t *testing.T) {
	w := setupShortAckWait(t, 1)
	ctx := testCtx(t)
	if _, err := w.r.Ingest().Publish(ctx, w.seller, []events.Event{event("held", "acc-77", "i1", "active")}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	ds := pullN(t, w.r, "res-a", 1)
	// Keep it alive until the final-delivery watch (it checks every second)
	// has passed its ack wait twice over.
	until := time.Now().Add(2*shortAckWait + 2*time.Second)
	tick := time.NewTicker(shortAckWait / 4)
	defer tick.Stop()
	for time.Now().Before(until) {
		res, err := w.r.Inbox().Ack(ctx, relay.RoleReseller, "res-a", pull.AckRequest{Progress: []string{ds[0].AckID}})
		if err != nil || res.InProgress != 1 || len(res.Errors) != 0 {
			t.Fatalf("progress: %+v, %v", res, err)
		}
		<-tick.C
	}
	ackAll(t, w.r, "res-a", ds)
	if n, err := w.r.Admin().DLQCount(ctx, "res-a"); err != nil || n != 0 {
		t.Fatalf("a final delivery kept alive and acked has %d dead letters (%v); want none", n, err)
	}
}
