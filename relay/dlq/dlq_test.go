package dlq_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/dlq"
	"github.com/billrelay/billrelay/relay/metrics"
	"github.com/billrelay/billrelay/relay/ops"
	"github.com/billrelay/billrelay/relay/registry"
	"github.com/billrelay/billrelay/relay/store"
	"github.com/billrelay/billrelay/relay/store/storetest"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// entry is a registry record as the KV watch hands it to the view.
type entry struct {
	jetstream.KeyValueEntry
	key string
	val []byte
}

func (e entry) Key() string                     { return e.key }
func (e entry) Value() []byte                   { return e.val }
func (e entry) Revision() uint64                { return 1 }
func (e entry) Operation() jetstream.KeyValueOp { return jetstream.KeyValuePut }

// open lays out the relay's streams on a bare server and makes the dead
// letters of a view that knows res-a, with the real trail for ops events
// and the audit.
func open(t *testing.T) (*dlq.DLQ, *ops.Trail, jetstream.JetStream) {
	t.Helper()
	js := storetest.JetStream(t)
	cfg := relay.Config{DataDir: t.TempDir()}
	cfg.SetDefaults()
	st := store.New(js, cfg, zerolog.Nop(), nil)
	ctx := testCtx(t)
	if _, err := st.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.EnsureStream(ctx, st.DeliveryConfig(relay.StreamDelivery, []string{events.DeliverPrefix + ".>"})); err != nil {
		t.Fatal(err)
	}
	view := registry.NewView()
	rec, _ := json.Marshal(relay.Reseller{ID: "res-a", Seller: "sell-1", Accounts: []string{"acc-1"}, TokenSHA256: "t"})
	view.Apply(entry{key: "reseller.res-a", val: rec}, zerolog.Nop())
	trail := ops.NewTrail(js, zerolog.Nop())
	d := dlq.New(dlq.Config{Relay: cfg, Log: zerolog.Nop(), JS: js, Metrics: metrics.New(), Registry: view,
		OpsEvent: trail.OpsEvent, Audit: trail.Note, Tail: trail.Tail})
	return d, trail, js
}

// TestDeadLetterOnceAndRedrive: a death reported twice (the dispatcher and
// an advisory) is copied once and told to on-call once, listed with its reason,
// counted, and redriven onto the reseller's subject once, marked and
// audited; an unknown reseller or id is named.
func TestDeadLetterOnceAndRedrive(t *testing.T) {
	d, trail, js := open(t)
	ctx := testCtx(t)
	k := events.Key{Seller: "sell-1", Account: "acc-1", Item: "i1"}
	o := dlq.Origin{Stream: relay.StreamDelivery, Consumer: "res-a", Seq: 7, Subject: events.DeliverSubject("res-a", k)}
	for range 2 {
		if err := d.DeadLetter(ctx, o, []byte(`{"id":"e1"}`), 20, "max deliveries reached"); err != nil {
			t.Fatal(err)
		}
	}
	list, err := d.DeadLetters(ctx, "res-a", false, 10)
	if err != nil || len(list) != 1 || list[0].Reason != "max deliveries reached" || list[0].Attempts != 20 ||
		list[0].Seq != 7 || list[0].Subject != o.Subject || list[0].Redriven {
		t.Fatalf("dead letters = %+v, %v", list, err)
	}
	if n, err := d.DLQCount(ctx, "res-a"); err != nil || n != 1 {
		t.Fatalf("DLQCount = %d, %v", n, err)
	}
	evs, err := trail.OpsEvents(ctx, 10)
	if err != nil || len(evs) != 1 || evs[0].Type != relay.OpsDeadLettered || evs[0].Reseller != "res-a" {
		t.Fatalf("ops events = %+v, %v", evs, err)
	}

	if _, err := d.DeadLetters(ctx, "nobody", false, 10); !errors.Is(err, events.ErrNotFound) {
		t.Fatalf("unknown reseller: %v", err)
	}
	if _, err := d.Redrive(ctx, "res-a", []string{"999"}); !errors.Is(err, events.ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
	for range 2 {
		if _, err := d.Redrive(ctx, "res-a", []string{list[0].ID}); err != nil {
			t.Fatal(err)
		}
	}
	st, err := js.Stream(ctx, relay.StreamDelivery)
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.GetLastMsgForSubject(ctx, o.Subject)
	if err != nil || m.Header.Get(relay.HeaderRedriven) != "true" || m.Header.Get(relay.HeaderEventID) != "e1" || st.CachedInfo().State.Msgs != 1 {
		t.Fatalf("redriven copy %+v, %v (%d on DELIVERY)", m, err, st.CachedInfo().State.Msgs)
	}
	if list, _ := d.DeadLetters(ctx, "res-a", true, 10); len(list) != 1 || !list[0].Redriven {
		t.Fatalf("after redrive: %+v", list)
	}
	if audit, err := trail.Audit(ctx, 10); err != nil || len(audit) != 1 || audit[0].Action != "dlq.redrive" {
		t.Fatalf("audit = %+v, %v", audit, err)
	}
}
