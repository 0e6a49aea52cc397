package node

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	ingest "github.com/billrelay/billrelay/relay/ingest"
	"github.com/billrelay/billrelay/relay/pull"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// TestLegacyIDsStayInTheWindow: envelopes stored by a version before
// seller scoping (events under their bare id, orders under
// "<reseller>:<id>") are routed, and keep deduplicating after the
// upgrade: a re-send of either is a duplicate, while another seller's
// event under the same bare id is its own.
func TestLegacyIDsStayInTheWindow(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r := openInternal(t, ctx, dir)
	for _, s := range []string{"sell-1", "sell-2"} {
		if _, _, err := r.Registry().RegisterSeller(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := r.Registry().RegisterReseller(ctx, relay.ResellerSpec{ID: "res-a", Seller: "sell-1", Accounts: []string{"acc-77"}}); err != nil {
		t.Fatal(err)
	}
	legacy := []ingest.Record{
		legacyRecord("events.sell-1.acc-77.i1", "7", "7"),
		legacyRecord("orders.sell-1.res-a.acc-77.i2", "o1", "res-a:o1"),
	}
	m := nats.NewMsg(relay.SubjectIngest)
	m.Data = ingest.EncodeEnvelope(legacy)
	if _, err := r.js.PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}
	got, err := r.Inbox().Pull(ctx, relay.RoleReseller, "res-a", 10, 10*time.Second)
	if err != nil || len(got) != 1 || !strings.Contains(string(got[0].Event), `"id":"7"`) {
		t.Fatalf("the legacy event reached res-a as %d deliveries, %v", len(got), err)
	}
	if res, err := r.Inbox().Ack(ctx, relay.RoleReseller, "res-a", pull.AckRequest{Ack: []string{got[0].AckID}}); err != nil || res.Acked != 1 {
		t.Fatalf("ack: %+v, %v", res, err)
	}
	r.Close()

	r = openInternal(t, ctx, dir)
	defer r.Close()
	sell1, sell2 := relay.Principal{Role: relay.RoleSeller, ID: "sell-1"}, relay.Principal{Role: relay.RoleSeller, ID: "sell-2"}
	resA := relay.Principal{Role: relay.RoleReseller, ID: "res-a"}
	for _, c := range []struct {
		p    relay.Principal
		e    events.Event
		want relay.ResultStatus
	}{
		{sell1, catalogEvent("sell-1", "7", "i1", events.TypeServiceStateChanged, `{"state":"active"}`), relay.StatusDuplicate},
		{resA, catalogEvent("sell-1", "o1", "i2", events.TypeOrderPlaced, `{}`), relay.StatusDuplicate},
		{sell2, catalogEvent("sell-2", "7", "i1", events.TypeServiceStateChanged, `{"state":"active"}`), relay.StatusAccepted},
	} {
		res, err := r.Ingest().Publish(ctx, c.p, []events.Event{c.e})
		if err != nil || res[0].Status != c.want {
			t.Fatalf("%s sends %s after the upgrade: %+v, %v; want %s", c.p.ID, c.e.ID, res, err, c.want)
		}
	}
	if extra, _ := r.Inbox().Pull(ctx, relay.RoleReseller, "res-a", 10, 200*time.Millisecond); len(extra) != 0 {
		t.Fatalf("the legacy event came again after the upgrade: %s", extra[0].Event)
	}
}

func openInternal(t *testing.T, ctx context.Context, dir string) *Node {
	t.Helper()
	r, err := Open(ctx, relay.Config{DataDir: dir, SyncAlways: true, AckWait: 5 * time.Second}, zerolog.Nop())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return r
}

// legacyRecord is a record as a version before seller scoping stored it.
func legacyRecord(subject, id, msgID string) ingest.Record {
	h := nats.Header{}
	h.Set(jetstream.MsgIDHeader, msgID)
	h.Set(relay.HeaderEventID, id)
	h.Set(relay.HeaderType, events.TypeServiceStateChanged)
	return ingest.Record{Subject: subject, MsgID: msgID, Header: h, Body: []byte(`{"id":"` + id + `"}`)}
}

func catalogEvent(seller, id, item, typ, data string) events.Event {
	return events.Event{SpecVersion: "1.0", ID: id, Source: "/test/" + seller, Type: typ, Time: time.Now().UTC(),
		Seller: seller, Account: "acc-77", Item: item, Data: []byte(data)}
}
