package node_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/node"
	"github.com/billrelay/billrelay/relay/node/nodetest"
	"github.com/billrelay/billrelay/relay/pull"
	"github.com/rs/zerolog"
)

// openRelay opens a relay on dir that the test closes itself (it may
// open another on the same directory).
func openRelay(t *testing.T, dir string) *node.Node {
	t.Helper()
	return nodetest.OpenLog(t, relay.Config{DataDir: dir, AckWait: 5 * time.Second}, zerolog.Nop())
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func event(id, account, item, state string) events.Event {
	return events.Event{
		SpecVersion: "1.0", ID: id, Source: "/test/sell-1", Type: events.TypeServiceStateChanged,
		Time: time.Now().UTC(), Seller: "sell-1", Account: account, Item: item,
		Data: json.RawMessage(`{"state":"` + state + `"}`),
	}
}

type world struct {
	r      *node.Node
	seller relay.Principal
}

func setup(t *testing.T) world {
	t.Helper()
	r := openRelay(t, t.TempDir())
	t.Cleanup(func() { r.Close() })
	ctx := testCtx(t)
	if _, _, err := r.Registry().RegisterSeller(ctx, "sell-1"); err != nil {
		t.Fatalf("RegisterSeller: %v", err)
	}
	for _, spec := range []relay.ResellerSpec{
		{ID: "res-a", Seller: "sell-1", Accounts: []string{"acc-77"}},
		{ID: "res-b", Seller: "sell-1", Accounts: []string{"acc-77"}},
		{ID: "res-c", Seller: "sell-1", Accounts: []string{"acc-99"}},
	} {
		if _, _, err := r.Registry().RegisterReseller(ctx, spec); err != nil {
			t.Fatalf("RegisterReseller %s: %v", spec.ID, err)
		}
	}
	return world{r: r, seller: relay.Principal{Role: relay.RoleSeller, ID: "sell-1"}}
}

// pullN long-polls until n events arrived or the test context ends.
func pullN(t *testing.T, r *node.Node, reseller string, n int) []pull.Delivery {
	t.Helper()
	ctx := testCtx(t)
	var got []pull.Delivery
	for len(got) < n {
		ds, err := r.Inbox().Pull(ctx, relay.RoleReseller, reseller, n-len(got), 10*time.Second)
		if err != nil {
			t.Fatalf("Pull %s after %d of %d: %v", reseller, len(got), n, err)
		}
		got = append(got, ds...)
	}
	return got
}

func ids(ds []pull.Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		var e struct{ ID string }
		_ = json.Unmarshal(d.Event, &e)
		out[i] = e.ID
	}
	return out
}

func TestSharedAccountReachesEveryReseller(t *testing.T) {
	w := setup(t)
	ctx := testCtx(t)
	batch := []events.Event{event("e1", "acc-77", "i1", "provisioning"), event("e2", "acc-77", "i1", "active"), event("e3", "acc-77", "i2", "active")}
	res, err := w.r.Ingest().Publish(ctx, w.seller, batch)
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	for _, r := range res {
		if r.Status != relay.StatusAccepted {
			t.Fatalf("results = %+v, want all accepted", res)
		}
	}
	again, err := w.r.Ingest().Publish(ctx, w.seller, batch[:1])
	if err != nil || again[0].Status != relay.StatusDuplicate {
		t.Fatalf("republish = %+v, %v; want duplicate", again, err)
	}

	a := pullN(t, w.r, "res-a", 3)
	if fmt.Sprint(ids(a)) != "[e1 e2 e3]" {
		t.Fatalf("res-a got %v, want [e1 e2 e3] in order", ids(a))
	}
	ackAll(t, w.r, "res-a", a)
	if ds, err := w.r.Inbox().Pull(ctx, relay.RoleReseller, "res-a", 10, 0); err != nil || len(ds) != 0 {
		t.Fatalf("res-a after acking: %v, %v; want nothing (no duplicate delivery)", ids(ds), err)
	}
	b := pullN(t, w.r, "res-b", 3)
	if fmt.Sprint(ids(b)) != "[e1 e2 e3]" {
		t.Fatalf("res-b got %v after res-a acked, want all three", ids(b))
	}
	if ds, err := w.r.Inbox().Pull(ctx, relay.RoleReseller, "res-c", 10, 200*time.Millisecond); err != nil || len(ds) != 0 {
		t.Fatalf("res-c on another account got %v, %v; want nothing", ids(ds), err)
	}
}

func ackAll(t *testing.T, r *node.Node, reseller string, ds []pull.Delivery) {
	t.Helper()
	req := pull.AckRequest{}
	for _, d := range ds {
		req.Ack = append(req.Ack, d.AckID)
	}
	res, err := r.Inbox().Ack(testCtx(t), relay.RoleReseller, reseller, req)
	if err != nil || res.Acked != len(ds) || len(res.Errors) != 0 {
		t.Fatalf("Ack %s: %+v, %v", reseller, res, err)
	}
}

func TestNakZeroComesBackOnNextPull(t *testing.T) {
	w := setup(t)
	ctx := testCtx(t)
	if _, err := w.r.Ingest().Publish(ctx, w.seller, []events.Event{event("n1", "acc-77", "i1", "active")}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	first := pullN(t, w.r, "res-a", 1)
	res, err := w.r.Inbox().Ack(ctx, relay.RoleReseller, "res-a", pull.AckRequest{Nak: []pull.NakItem{{AckID: first[0].AckID, Delay: "0s"}}})
	if err != nil || res.Naked != 1 {
		t.Fatalf("Nak: %+v, %v", res, err)
	}
	again := pullN(t, w.r, "res-a", 1)
	if again[0].Attempt != 2 || ids(again)[0] != "n1" {
		t.Fatalf("after nak got %v attempt %d, want n1 attempt 2", ids(again), again[0].Attempt)
	}
	res, err = w.r.Inbox().Ack(ctx, relay.RoleReseller, "res-a", pull.AckRequest{Ack: []string{first[0].AckID}})
	if err != nil || len(res.Errors) != 1 {
		t.Fatalf("acking a naked delivery: %+v, %v; want one error", res, err)
	}
}

func TestAckIDsAreBoundToTheirConsumer(t *testing.T) {
	w := setup(t)
	ctx := testCtx(t)
	if _, err := w.r.Ingest().Publish(ctx, w.seller, []events.Event{event("x1", "acc-77", "i1", "active")}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	a := pullN(t, w.r, "res-a", 1)
	_, err := w.r.Inbox().Ack(ctx, relay.RoleReseller, "res-b", pull.AckRequest{Ack: []string{a[0].AckID, "garbage"}})
	if !errors.Is(err, events.ErrForbidden) {
		t.Fatalf("res-b acking res-a's id: %v, want ErrForbidden", err)
	}
	_, err = w.r.Inbox().Ack(ctx, relay.RoleReseller, "res-a", pull.AckRequest{Ack: []string{a[0].AckID, "garbage"}})
	if !errors.Is(err, events.ErrMalformed) {
		t.Fatalf("garbage id: %v, want ErrMalformed", err)
	}
	forged := a[0].AckID[:len(a[0].AckID)-2] + "AA"
	if _, err = w.r.Inbox().Ack(ctx, relay.RoleReseller, "res-a", pull.AckRequest{Ack: []string{forged}}); !errors.Is(err, events.ErrMalformed) {
		t.Fatalf("forged id: %v, want ErrMalformed", err)
	}
	// Nothing of the refused requests was applied: the event is still pending.
	lag, err := w.r.Admin().ResellerLag(ctx, "res-a")
	if err != nil || lag.AckPending != 1 {
		t.Fatalf("lag = %+v, %v; want 1 ack pending", lag, err)
	}
}

func TestDuplicateInsideBatchDoesNotSinkNeighbours(t *testing.T) {
	w := setup(t)
	ctx := testCtx(t)
	if _, err := w.r.Ingest().Publish(ctx, w.seller, []events.Event{event("d1", "acc-77", "i1", "active")}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	batch := []events.Event{event("d1", "acc-77", "i1", "active"), event("d2", "acc-77", "i2", "active"), event("d2", "acc-77", "i2", "active")}
	res, err := w.r.Ingest().Publish(ctx, w.seller, batch)
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if fmt.Sprint(res) != "[{d1 duplicate} {d2 accepted} {d2 duplicate}]" {
		t.Fatalf("results = %v", res)
	}
	got := pullN(t, w.r, "res-b", 2)
	if fmt.Sprint(ids(got)) != "[d1 d2]" {
		t.Fatalf("res-b got %v, want [d1 d2] once each", ids(got))
	}
	if extra, _ := w.r.Inbox().Pull(ctx, relay.RoleReseller, "res-b", 10, 0); len(extra) != 0 {
		t.Fatalf("duplicate delivered: %v", ids(extra))
	}
}

func TestPublishAuthorization(t *testing.T) {
	w := setup(t)
	ctx := testCtx(t)
	other := event("o1", "acc-77", "i1", "active")
	other.Seller = "sell-2"
	tests := []struct {
		name string
		p    relay.Principal
		e    events.Event
	}{
		{"seller for another seller", w.seller, other},
		{"reseller publishing a state change", relay.Principal{Role: relay.RoleReseller, ID: "res-a"}, event("o2", "acc-77", "i1", "active")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := w.r.Ingest().Publish(ctx, tc.p, []events.Event{tc.e}); !errors.Is(err, events.ErrForbidden) {
				t.Fatalf("err = %v, want ErrForbidden", err)
			}
		})
	}
}

func TestRegistrationProblems(t *testing.T) {
	w := setup(t)
	ctx := testCtx(t)
	if _, _, err := w.r.Registry().RegisterReseller(ctx, relay.ResellerSpec{ID: "res-a", Seller: "sell-1", Accounts: []string{"x"}}); !errors.Is(err, events.ErrConflict) {
		t.Fatalf("duplicate reseller: %v, want ErrConflict", err)
	}
	_, _, err := w.r.Registry().RegisterReseller(ctx, relay.ResellerSpec{ID: "res.z", Seller: "nope"})
	if !errors.Is(err, events.ErrInvalid) || len(events.Fields(err)) != 3 {
		t.Fatalf("bad spec: %v, want id, seller and accounts named", err)
	}
}

// TestAckedNothingComesBackAfterRestart closes the relay right after acking:
// the receipt journal keeps acked events from coming back even if the
// consumer's ack state had not been written yet.
func TestAckedNothingComesBackAfterRestart(t *testing.T) {
	dir := t.TempDir()
	r, seller := openWithResA(t, dir)
	ctx := testCtx(t)
	if _, err := r.Ingest().Publish(ctx, seller, []events.Event{event("k1", "acc-77", "i1", "active"), event("k2", "acc-77", "i2", "active")}); err != nil {
		t.Fatal(err)
	}
	got := pullN(t, r, "res-a", 2)
	ackAll(t, r, "res-a", got[:1])
	r.Close()

	r = openRelay(t, dir)
	defer r.Close()
	again := pullN(t, r, "res-a", 1)
	if fmt.Sprint(ids(again)) != "[k2]" {
		t.Fatalf("after restart got %v, want only the unacked k2", ids(again))
	}
	if extra, _ := r.Inbox().Pull(ctx, relay.RoleReseller, "res-a", 10, 0); len(extra) != 0 {
		t.Fatalf("acked event came back: %v", ids(extra))
	}
}

// openWithResA opens a relay on dir with sell-1 and res-a on acc-77, for
// tests that close it and open it again on the same data.
func openWithResA(t *testing.T, dir string) (*node.Node, relay.Principal) {
	t.Helper()
	r := openRelay(t, dir)
	ctx := testCtx(t)
	if _, _, err := r.Registry().RegisterSeller(ctx, "sell-1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Registry().RegisterReseller(ctx, relay.ResellerSpec{ID: "res-a", Seller: "sell-1", Accounts: []string{"acc-77"}}); err != nil {
		t.Fatal(err)
	}
	return r, relay.Principal{Role: relay.RoleSeller, ID: "sell-1"}
}
