package node_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/node"
	"github.com/billrelay/billrelay/relay/node/nodetest"
	"github.com/billrelay/billrelay/relay/tenancy"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func openListening(t *testing.T) (*node.Node, string) {
	t.Helper()
	r := nodetest.Open(t, relay.Config{AckWait: time.Minute, NATSListen: "127.0.0.1:0"})
	nodetest.Seller(t, r, "sell-1")
	return r, r.Server().ClientURL()
}

// TestTenancyFollowsTheRegistry: a reseller whose token changes, or that
// is deleted, loses its open NATS connections at once, and only the
// current token connects again. It holds the wiring of the registry's
// changes into relay/tenancy, whose own tests cover the rest.
func TestTenancyFollowsTheRegistry(t *testing.T) {
	ctx := testCtx(t)
	r, url := openListening(t)
	_, cred, err := r.Registry().RegisterReseller(ctx, relay.ResellerSpec{ID: "res-a", Seller: "sell-1", Accounts: []string{"acc-77"}})
	if err != nil {
		t.Fatal(err)
	}
	kv, err := r.JetStream().KeyValue(ctx, relay.BucketRegistry)
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	nc, err := nats.Connect(url, nats.UserInfo("res-a", cred.Token), nats.MaxReconnects(0),
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()

	// A new token, as a re-tokening writes it.
	e, err := kv.Get(ctx, "reseller.res-a")
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("bra_new_token"))
	rec["token_sha256"] = hex.EncodeToString(sum[:])
	b, _ := json.Marshal(rec)
	if _, err := kv.Put(ctx, "reseller.res-a", b); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, closed, "the connection made with the old token")
	if c, err := nats.Connect(url, nats.UserInfo("res-a", cred.Token)); err == nil {
		c.Close()
		t.Fatal("the old token still connects")
	}
	closed = make(chan struct{})
	nc2, err := nats.Connect(url, nats.UserInfo("res-a", "bra_new_token"), nats.MaxReconnects(0),
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	if err != nil {
		t.Fatalf("the new token does not connect: %v", err)
	}
	defer nc2.Close()

	if err := kv.Delete(ctx, "reseller.res-a"); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, closed, "the connection of the deleted reseller")
	if c, err := nats.Connect(url, nats.UserInfo("res-a", "bra_new_token")); err == nil {
		c.Close()
		t.Fatal("a deleted reseller still connects")
	}
}

// registerResellers registers ids on sell-1's acc-77 and returns their
// tokens.
func registerResellers(t *testing.T, r *node.Node, ids ...string) map[string]string {
	t.Helper()
	creds := map[string]string{}
	for _, id := range ids {
		_, c, err := r.Registry().RegisterReseller(testCtx(t), relay.ResellerSpec{ID: id, Seller: "sell-1", Accounts: []string{"acc-77"}})
		if err != nil {
			t.Fatal(err)
		}
		creds[id] = c.Token
	}
	return creds
}

func waitClosed(t *testing.T, closed <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s was not closed", what)
	}
}

// TestReceiptIntake: a receipt a reseller publishes over NATS is journaled
// only for a delivery of its own, once; one that names another consumer,
// claims another's delivery, repeats, is malformed or oversized is refused
// and counted, never stored.
func TestReceiptIntake(t *testing.T) {
	ctx := testCtx(t)
	r, url := openListening(t)
	creds := registerResellers(t, r, "res-a", "res-b")
	if _, err := r.Ingest().Publish(ctx, relay.Principal{Role: relay.RoleSeller, ID: "sell-1"},
		[]events.Event{event("rc-1", "acc-77", "1", "active")}); err != nil {
		t.Fatal(err)
	}
	a, err := connectAs(t, url, "res-a", creds["res-a"])
	if err != nil {
		t.Fatal(err)
	}
	b, err := connectAs(t, url, "res-b", creds["res-b"])
	if err != nil {
		t.Fatal(err)
	}
	mine, theirs := fetchOne(t, ctx, a, "res-a"), fetchOne(t, ctx, b, "res-b")
	seqOf := func(m jetstream.Msg) uint64 {
		md, err := m.Metadata()
		if err != nil {
			t.Fatal(err)
		}
		return md.Sequence.Stream
	}
	send := func(body string) {
		if err := a.nc.Publish("receipts.DELIVERY.res-a.sell-1.acc-77.1", []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	own := fmt.Sprintf(`{"seq":%d,"event_id":"rc-1","action":"applied"}`, seqOf(mine))
	send(own)
	send(own)
	send(fmt.Sprintf(`{"stream":"DELIVERY","consumer":"res-b","seq":%d,"event_id":"rc-1","action":"applied"}`, seqOf(theirs)))
	send(fmt.Sprintf(`{"seq":%d,"event_id":"rc-1","action":"rejected"}`, seqOf(theirs)))
	send(`{"seq":1,`)
	send(fmt.Sprintf(`{"seq":%d,"event_id":"rc-1","action":"applied","reason":"%0*d"}`, seqOf(mine), 5000, 0))
	want := map[string]float64{"repeat": 1, "foreign_consumer": 2, "malformed": 1, "too_large": 1}
	waitFor(t, "every bad receipt refused", func() bool {
		got := refusedReceipts(t, r)
		for k, v := range want {
			if got[k] != v {
				return false
			}
		}
		return true
	})
	waitFor(t, "the one good receipt journaled", func() bool { return streamMsgs(t, r, relay.StreamReceipts) == 1 })
	rec, err := r.JetStream().Stream(ctx, relay.StreamReceipts)
	if err != nil {
		t.Fatal(err)
	}
	m, err := rec.GetLastMsgForSubject(ctx, "receipts.>")
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "receipts.DELIVERY.res-a.sell-1.acc-77.1" {
		t.Fatalf("journaled on %s, want res-a's own receipt subject", m.Subject)
	}
}

func refusedReceipts(t *testing.T, r *node.Node) map[string]float64 {
	t.Helper()
	mfs, err := r.Metrics().Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "billrelay_receipts_refused_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	return out
}

func streamMsgs(t *testing.T, r *node.Node, name string) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := r.JetStream().Stream(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// TestOneTenantsFloodSparesTheOthers: while res-a floods its consumer
// info and receipt subjects, res-b's receipts are all journaled, res-b
// reads its consumer info, and the relay's own lag reads answer.
func TestOneTenantsFloodSparesTheOthers(t *testing.T) {
	ctx := testCtx(t)
	r, url := openListening(t)
	creds := registerResellers(t, r, "res-a", "res-b")
	var evs []events.Event
	for i := range 20 {
		evs = append(evs, event(fmt.Sprintf("fl-%d", i), "acc-77", strconv.Itoa(i), "active"))
	}
	if _, err := r.Ingest().Publish(ctx, relay.Principal{Role: relay.RoleSeller, ID: "sell-1"}, evs); err != nil {
		t.Fatal(err)
	}
	b, err := connectAs(t, url, "res-b", creds["res-b"])
	if err != nil {
		t.Fatal(err)
	}
	cons, err := b.js.Consumer(ctx, relay.StreamDelivery, "res-b")
	if err != nil {
		t.Fatal(err)
	}
	var held []jetstream.Msg
	for len(held) < len(evs) {
		batch, err := cons.Fetch(len(evs)-len(held), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			held = append(held, m)
		}
	}
	a, err := nats.Connect(url, nats.UserInfo("res-a", creds["res-a"]), nats.CustomInboxPrefix(tenancy.InboxPrefix("res-a")),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.Subscribe("_INBOX_res-a.>", func(*nats.Msg) {}); err != nil {
		t.Fatal(err)
	}
	flooding := make(chan struct{})
	go func() {
		defer close(flooding)
		junk := []byte(`{"seq":1,"event_id":"fl-0","action":"applied"}`)
		for i := 0; i < 30_000 && !a.IsClosed(); i++ {
			_ = a.PublishRequest("$JS.API.CONSUMER.INFO.DELIVERY.res-a", "_INBOX_res-a.i", nil)
			_ = a.Publish("receipts.DELIVERY.res-a.x", junk)
		}
	}()
	for _, m := range held {
		md, _ := m.Metadata()
		body := fmt.Sprintf(`{"seq":%d,"event_id":%q,"action":"applied"}`, md.Sequence.Stream, m.Headers().Get("Relay-Event-Id"))
		if err := b.nc.Publish("receipts.DELIVERY.res-b.sell-1.acc-77.x", []byte(body)); err != nil {
			t.Fatal(err)
		}
		short, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := r.Admin().ResellerLag(short, "res-b")
		cancel()
		if err != nil {
			t.Fatalf("the relay's own lag read during the flood: %v", err)
		}
	}
	if _, err := b.js.Consumer(ctx, relay.StreamDelivery, "res-b"); err != nil {
		t.Fatalf("res-b's consumer info during the flood: %v", err)
	}
	<-flooding
	waitFor(t, "every receipt of res-b journaled", func() bool { return receiptsOf(t, r, "res-b") == len(held) })
}

func receiptsOf(t *testing.T, r *node.Node, consumer string) int {
	t.Helper()
	st, err := r.JetStream().Stream(t.Context(), relay.StreamReceipts)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(t.Context(), jetstream.WithSubjectFilter("receipts.DELIVERY."+consumer+".>"))
	if err != nil {
		t.Fatal(err)
	}
	return len(info.State.Subjects)
}

// natsClient is a reseller connected over NATS the way the agent
// connects.
type natsClient struct {
	nc *nats.Conn
	js jetstream.JetStream
}

func connectAs(t *testing.T, url, user, password string) (*natsClient, error) {
	nc, err := nats.Connect(url, nats.UserInfo(user, password), nats.CustomInboxPrefix(tenancy.InboxPrefix(user)),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	if err != nil {
		return nil, err
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return &natsClient{nc: nc, js: js}, nil
}

func fetchOne(t *testing.T, ctx context.Context, c *natsClient, consumer string) jetstream.Msg {
	t.Helper()
	cons, err := c.js.Consumer(ctx, relay.StreamDelivery, consumer)
	if err != nil {
		t.Fatalf("%s consumer: %v", consumer, err)
	}
	for ctx.Err() == nil {
		b, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatalf("%s fetch: %v", consumer, err)
		}
		for m := range b.Messages() {
			return m
		}
	}
	t.Fatalf("%s fetched nothing", consumer)
	return nil
}
