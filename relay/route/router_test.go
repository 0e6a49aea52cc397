package route

import (
	"context"
	"testing"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	ingest "github.com/billrelay/billrelay/relay/ingest"
	"github.com/billrelay/billrelay/relay/metrics"
	"github.com/billrelay/billrelay/relay/store/storetest"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// The router on a bare embedded nats-server: its streams, its consumer,
// ingest's envelope codec, the store's writes, and a fake registry.

// startJetStream starts a server storing under dir (a fresh one when
// dir is ""), with the router's streams; stop shuts it down.
func startJetStream(t *testing.T, dir string) (js jetstream.JetStream, stop func()) {
	t.Helper()
	srv := storetest.Start(t, dir)
	js, stop = srv.JS, srv.Stop
	ctx := testCtx(t)
	for name, subject := range map[string]string{
		relay.StreamIngest: relay.SubjectIngest, relay.StreamEvents: events.EventsPrefix + ".>",
		relay.StreamOrders: events.OrdersPrefix + ".>", relay.StreamDelivery: events.DeliverPrefix + ".>",
	} {
		// AllowDirect: the router loads its items' last states with batched direct gets
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{subject}, AllowDirect: true}); err != nil {
			t.Fatal(err)
		}
	}
	return js, stop
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// noLayout is a delivery layout that never needs healing here.
type noLayout struct{}

func (noLayout) HealDelivery(context.Context) {}

// runRouter opens a router on js behind the fence (sync always) and runs
// it until the test ends.
func runRouter(t *testing.T, js jetstream.JetStream, reg *fakeRecipients, unclean bool) {
	t.Helper()
	cfg := relay.Config{DataDir: t.TempDir(), SyncAlways: true}
	cfg.SetDefaults()
	rt := New(Config{Relay: cfg, Log: zerolog.Nop(), JS: js, Metrics: metrics.New(), Dir: reg, Layout: noLayout{},
		Consumer: ConsumerConfig(cfg), Unclean: unclean})
	ctx, cancel := context.WithCancel(context.Background())
	if err := rt.Open(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// waitFor polls cond until it holds or the test's time runs out.
func waitFor(t *testing.T, what string, cond func(ctx context.Context) bool) {
	t.Helper()
	ctx := testCtx(t)
	for !cond(ctx) {
		select {
		case <-ctx.Done():
			t.Fatalf("never %s", what)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func streamMsgs(ctx context.Context, js jetstream.JetStream, name string) uint64 {
	s, err := js.Stream(ctx, name)
	if err != nil {
		return 0
	}
	return s.CachedInfo().State.Msgs
}

func ackFloorOf(ctx context.Context, js jetstream.JetStream) uint64 {
	c, err := js.Consumer(ctx, relay.StreamIngest, "router")
	if err != nil {
		return 0
	}
	return c.CachedInfo().AckFloor.Stream
}

func publishEnvelope(t *testing.T, js jetstream.JetStream, recs ...ingest.Record) uint64 {
	t.Helper()
	ack, err := js.Publish(testCtx(t), relay.SubjectIngest, ingest.EncodeEnvelope(recs))
	if err != nil {
		t.Fatal(err)
	}
	return ack.Sequence
}

func lastCopy(t *testing.T, js jetstream.JetStream, subject string) *jetstream.RawStreamMsg {
	t.Helper()
	s, err := js.Stream(testCtx(t), relay.StreamDelivery)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetLastMsgForSubject(testCtx(t), subject)
	if err != nil {
		t.Fatalf("copy on %s: %v", subject, err)
	}
	return m
}

// TestRouterRoutesEnvelopes: the router stores an envelope's events in
// EVENTS and its orders in ORDERS, a copy per recipient in DELIVERY, and
// acks the envelope once all of that is stored. An event older than its
// item's last one in EVENTS (stored before this run: the cache starts
// empty) is flagged stale on its copy.
func TestRouterRoutesEnvelopes(t *testing.T) {
	js, _ := startJetStream(t, "")
	ctx := testCtx(t)
	earlier := eventRecord("s", "acc", "i2", "e0", "active", time.Unix(2000, 0))
	if _, err := js.PublishMsg(ctx, earlier.Msg()); err != nil {
		t.Fatal(err)
	}
	reg := &fakeRecipients{recipients: map[string][]string{"i1": {"res-a", "res-b"}, "i2": {"res-b"}}}
	runRouter(t, js, reg, false)

	order := ingest.Record{Subject: events.OrderSubject("res-a", events.Key{Seller: "s", Account: "acc", Item: "i1"}),
		MsgID: "s.res-a:o1", Header: nats.Header{}, Body: []byte(`{"id":"o1"}`)}
	seq := publishEnvelope(t, js,
		eventRecord("s", "acc", "i1", "e1", "active", time.Unix(1000, 0)),
		order,
		eventRecord("s", "acc", "i2", "e2", "suspended", time.Unix(1000, 0)))
	waitFor(t, "acked the envelope", func(ctx context.Context) bool { return ackFloorOf(ctx, js) >= seq })

	for name, want := range map[string]uint64{relay.StreamEvents: 3, relay.StreamOrders: 1, relay.StreamDelivery: 3} {
		if n := streamMsgs(ctx, js, name); n != want {
			t.Errorf("%s holds %d messages, want %d", name, n, want)
		}
	}
	c := lastCopy(t, js, "deliver.res-b.s.acc.i2")
	if c.Header.Get(relay.HeaderEventID) != "e2" || c.Header.Get(relay.HeaderFlags) != FlagStale || c.Header.Get(relay.HeaderEventSeq) != "3" {
		t.Errorf("copy of e2: header %v, want event e2, flagged stale, event seq 3", c.Header)
	}
	if c := lastCopy(t, js, "deliver.res-a.s.acc.i1"); c.Header.Get(relay.HeaderFlags) != "" {
		t.Errorf("copy of e1 flagged %q", c.Header.Get(relay.HeaderFlags))
	}
}

// TestRouterRewindsAfterUncleanStop: copies lost after their envelopes
// were acknowledged (a power failure before the periodic fsync: the
// server restarts without them) are routed again when the fence says the
// previous run did not stop cleanly; what is still stored is not stored
// twice.
func TestRouterRewindsAfterUncleanStop(t *testing.T) {
	dir := t.TempDir()
	js, stop := startJetStream(t, dir)
	reg := &fakeRecipients{recipients: map[string][]string{"i1": {"res-a"}, "i2": {"res-a"}}}
	t.Run("first run", func(t *testing.T) { // its router stops when it ends
		runRouter(t, js, reg, false)
		publishEnvelope(t, js, eventRecord("s", "acc", "i1", "e1", "active", time.Unix(1000, 0)))
		seq := publishEnvelope(t, js, eventRecord("s", "acc", "i2", "e2", "active", time.Unix(1000, 0)))
		waitFor(t, "acked both envelopes", func(ctx context.Context) bool { return ackFloorOf(ctx, js) >= seq })
	})
	s, err := js.Stream(testCtx(t), relay.StreamDelivery)
	if err == nil {
		err = s.Purge(testCtx(t))
	}
	if err != nil {
		t.Fatal(err)
	}
	stop()

	js, _ = startJetStream(t, dir)
	runRouter(t, js, reg, true)
	waitFor(t, "routed the lost copies again", func(ctx context.Context) bool { return streamMsgs(ctx, js, relay.StreamDelivery) == 2 })
	if c := lastCopy(t, js, "deliver.res-a.s.acc.i2"); c.Header.Get(relay.HeaderEventID) != "e2" {
		t.Errorf("copy routed again: %v", c.Header)
	}
	if n := streamMsgs(testCtx(t), js, relay.StreamEvents); n != 2 {
		t.Errorf("EVENTS holds %d messages after the rewind, want 2", n)
	}
}
