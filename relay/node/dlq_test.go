package node_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/dlq"
	"github.com/billrelay/billrelay/relay/node"
	"github.com/billrelay/billrelay/relay/node/nodetest"
	"github.com/billrelay/billrelay/relay/pull"
)

func waitDLQ(t *testing.T, r *node.Node, reseller string, n int) []dlq.DeadLetter {
	t.Helper()
	ctx := testCtx(t)
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		got, err := r.Admin().DeadLetters(ctx, reseller, false, 100)
		if err == nil && len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("dead letters of %s: %+v, %v; want %d", reseller, got, err, n)
		}
		<-tick.C
	}
}

// TestTermByResellerIsDeadLettered: a reseller that terminates an event
// (say, an item it does not know) gets a dead letter with its reason; the
// other reseller still gets the event.
func TestTermByResellerIsDeadLettered(t *testing.T) {
	w := setup(t)
	ctx := testCtx(t)
	if _, err := w.r.Ingest().Publish(ctx, w.seller, []events.Event{event("t1", "acc-77", "16643", "active")}); err != nil {
		t.Fatal(err)
	}
	a := pullN(t, w.r, "res-a", 1)
	res, err := w.r.Inbox().Ack(ctx, relay.RoleReseller, "res-a", pull.AckRequest{Term: []pull.Term{{AckID: a[0].AckID, Reason: "unknown item 16643"}}})
	if err != nil || res.Termed != 1 {
		t.Fatalf("term: %+v, %v", res, err)
	}
	dl := waitDLQ(t, w.r, "res-a", 1)
	if !strings.Contains(dl[0].Reason, "unknown item 16643") || dl[0].Reseller != "res-a" || !strings.Contains(string(dl[0].Event), `"id":"t1"`) {
		t.Fatalf("dead letter %+v", dl[0])
	}
	if b := pullN(t, w.r, "res-b", 1); ids(b)[0] != "t1" {
		t.Fatalf("res-b got %v", ids(b))
	}
	if n, _ := w.r.Admin().DLQCount(ctx, "res-b"); n != 0 {
		t.Fatalf("res-b has %d dead letters", n)
	}
}

// TestExhaustedPullIsDeadLetteredWithoutAnotherPull: a reseller pulls an
// event on its last allowed delivery and dies; the relay dead-letters it
// when the ack wait passes, without waiting for a pull that never comes.
func TestExhaustedPullIsDeadLetteredWithoutAnotherPull(t *testing.T) {
	ctx := testCtx(t)
	r := nodetest.Open(t, relay.Config{AckWait: time.Second, MaxDeliver: 2})
	nodetest.Seller(t, r, "sell-1")
	if _, _, err := r.Registry().RegisterReseller(ctx, relay.ResellerSpec{ID: "res-a", Seller: "sell-1", Accounts: []string{"acc-77"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Ingest().Publish(ctx, relay.Principal{Role: relay.RoleSeller, ID: "sell-1"}, []events.Event{event("x1", "acc-77", "1", "active")}); err != nil {
		t.Fatal(err)
	}
	pullN(t, r, "res-a", 1)
	second := pullN(t, r, "res-a", 1) // after the ack wait: the last allowed delivery
	if second[0].Attempt != 2 {
		t.Fatalf("attempt %d", second[0].Attempt)
	}
	dl := waitDLQ(t, r, "res-a", 1)
	if !strings.Contains(dl[0].Reason, "max deliveries") || dl[0].Attempts != 2 {
		t.Fatalf("dead letter %+v", dl[0])
	}
	n, err := r.Admin().Redrive(ctx, "res-a", nil)
	if err != nil || n != 1 {
		t.Fatalf("redrive: %d, %v", n, err)
	}
	back := pullN(t, r, "res-a", 1)
	if !back[0].Redriven || ids(back)[0] != "x1" {
		t.Fatalf("redriven delivery %+v", back[0])
	}
}

// TestTermJournaledBeforeCrashIsDeadLettered covers a relay that stops
// after it journaled a reseller's term (the receipt is on disk) but before
// JetStream applied it: after the restart the event comes back from the
// consumer, and the relay must terminate it again with the reseller's
// reason, so that it reaches the dead letters instead of being acked away.
func TestTermJournaledBeforeCrashIsDeadLettered(t *testing.T) {
	dir := t.TempDir()
	r, seller := openWithResA(t, dir)
	ctx := testCtx(t)
	if _, err := r.Ingest().Publish(ctx, seller, []events.Event{event("ghost-1", "acc-77", "ghost", "active")}); err != nil {
		t.Fatal(err)
	}
	d := pullN(t, r, "res-a", 1)[0]
	rc := relay.Receipt{Stream: relay.StreamDelivery, Consumer: "res-a", Seq: d.Seq, EventID: "ghost-1",
		Action: relay.ActionRejected, Reason: "unknown item ghost", Time: time.Now().UTC(),
		Key: events.Key{Seller: "sell-1", Account: "acc-77", Item: "ghost"}}
	body, _ := json.Marshal(rc)
	if _, err := r.JetStream().Publish(ctx, relay.ReceiptSubject(rc), body); err != nil {
		t.Fatalf("journal the receipt: %v", err)
	}
	r.Close()

	r = openRelay(t, dir)
	defer r.Close()
	deadline := time.After(30 * time.Second)
	for {
		if back, err := r.Inbox().Pull(ctx, relay.RoleReseller, "res-a", 10, time.Second); err != nil || len(back) > 0 {
			t.Fatalf("after restart the rejected event was delivered again: %v, %v", ids(back), err)
		}
		if n, _ := r.Admin().DLQCount(ctx, "res-a"); n == 1 {
			break
		}
		select {
		case <-deadline:
			t.Fatalf("the rejected event did not reach the dead letters after the restart")
		default:
		}
	}
	dl := waitDLQ(t, r, "res-a", 1)
	if !strings.Contains(dl[0].Reason, "unknown item ghost") {
		t.Fatalf("dead letter reason %q, want the reseller's", dl[0].Reason)
	}
}

// TestForgedLegacyReceiptSettlesNothing: a store from before tenancy may
// hold a receipt that a reseller published on its own subject but that
// names another reseller's delivery. After a restart it must not settle
// that delivery: the victim still gets its event.
func TestForgedLegacyReceiptSettlesNothing(t *testing.T) {
	dir := t.TempDir()
	r, seller := openWithResA(t, dir)
	ctx := testCtx(t)
	if _, _, err := r.Registry().RegisterReseller(ctx, relay.ResellerSpec{ID: "res-b", Seller: "sell-1", Accounts: []string{"acc-77"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Ingest().Publish(ctx, seller, []events.Event{event("fl-1", "acc-77", "i1", "active")}); err != nil {
		t.Fatal(err)
	}
	victim := pullN(t, r, "res-b", 1)[0]
	forged := relay.Receipt{Stream: relay.StreamDelivery, Consumer: "res-b", Seq: victim.Seq, EventID: "fl-1",
		Action: relay.ActionApplied, Time: time.Now().UTC()}
	body, _ := json.Marshal(forged)
	if _, err := r.JetStream().Publish(ctx, "receipts.DELIVERY.res-a.sell-1.acc-77.i1", body); err != nil {
		t.Fatalf("store the forged receipt: %v", err)
	}
	r.Close()

	r = openRelay(t, dir)
	defer r.Close()
	back := pullN(t, r, "res-b", 1)
	if fmt.Sprint(ids(back)) != "[fl-1]" {
		t.Fatalf("res-b got %v after the restart, want its un-acked fl-1 again", ids(back))
	}
}
