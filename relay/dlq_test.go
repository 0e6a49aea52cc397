package relay_test

import (
	"strings"
	"testing"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/rs/zerolog"
)

func waitDLQ(t *testing.T, r *relay.Relay, reseller string, n int) []relay.DeadLetter {
	t.Helper()
	ctx := testCtx(t)
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		got, err := r.DeadLetters(ctx, reseller, false, 100)
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
	if _, err := w.r.Publish(ctx, w.seller, []events.Event{event("t1", "acc-77", "16643", "active")}); err != nil {
		t.Fatal(err)
	}
	a := pullN(t, w.r, "res-a", 1)
	res, err := w.r.Ack(ctx, "res-a", relay.AckRequest{Term: []relay.Term{{AckID: a[0].AckID, Reason: "unknown item 16643"}}})
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
	if n, _ := w.r.DLQCount(ctx, "res-b"); n != 0 {
		t.Fatalf("res-b has %d dead letters", n)
	}
}

// TestExhaustedPullIsDeadLetteredWithoutAnotherPull: a reseller pulls an
// event on its last allowed delivery and dies; the relay dead-letters it
// when the ack wait passes, without waiting for a pull that never comes.
func TestExhaustedPullIsDeadLetteredWithoutAnotherPull(t *testing.T) {
	ctx := testCtx(t)
	r, err := relay.Open(ctx, relay.Config{DataDir: t.TempDir(), SyncAlways: true, AckWait: time.Second, MaxDeliver: 2}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, _, err := r.RegisterSeller(ctx, "sell-1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.RegisterReseller(ctx, relay.ResellerSpec{ID: "res-a", Seller: "sell-1", Accounts: []string{"acc-77"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Publish(ctx, relay.Principal{Role: relay.RoleSeller, ID: "sell-1"}, []events.Event{event("x1", "acc-77", "1", "active")}); err != nil {
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
	n, err := r.Redrive(ctx, "res-a", nil)
	if err != nil || n != 1 {
		t.Fatalf("redrive: %d, %v", n, err)
	}
	back := pullN(t, r, "res-a", 1)
	if !back[0].Redriven || ids(back)[0] != "x1" {
		t.Fatalf("redriven delivery %+v", back[0])
	}
}
