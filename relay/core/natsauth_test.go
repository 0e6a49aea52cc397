package core_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/core"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// natsClient connects as a reseller and collects permission violations.
type natsClient struct {
	nc         *nats.Conn
	js         jetstream.JetStream
	violations chan string
}

func connectAs(t *testing.T, url, user, password string) (*natsClient, error) {
	c := &natsClient{violations: make(chan string, 16)}
	nc, err := nats.Connect(url, nats.UserInfo(user, password), nats.CustomInboxPrefix(core.InboxPrefix(user)),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if strings.Contains(err.Error(), "Permissions Violation") {
				c.violations <- err.Error()
			}
		}))
	if err != nil {
		return nil, err
	}
	t.Cleanup(nc.Close)
	c.nc = nc
	c.js, _ = jetstream.New(nc)
	return c, nil
}

func (c *natsClient) mustViolate(t *testing.T, what string) {
	t.Helper()
	select {
	case v := <-c.violations:
		t.Logf("%s denied: %s", what, v)
	case <-time.After(10 * time.Second):
		t.Fatalf("%s was not denied", what)
	}
}

func TestResellerNATSPermissions(t *testing.T) {
	for _, v2 := range []bool{false, true} {
		name := "ack subjects v1"
		if v2 {
			name = "ack subjects v2"
		}
		t.Run(name, func(t *testing.T) { checkPermissions(t, v2) })
	}
}

func checkPermissions(t *testing.T, ackV2 bool) {
	ctx := testCtx(t)
	r, err := core.Open(ctx, relay.Config{DataDir: t.TempDir(), SyncAlways: true, AckWait: 30 * time.Second,
		NATSListen: "127.0.0.1:0", FeatureFlags: map[string]bool{"js_ack_fc_v2": ackV2}}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	url := r.Server().ClientURL()
	r.RegisterSeller(ctx, "sell-1")
	_, credA, _ := r.RegisterReseller(ctx, relay.ResellerSpec{ID: "res-a", Seller: "sell-1", Accounts: []string{"acc-77"}})
	_, credB, _ := r.RegisterReseller(ctx, relay.ResellerSpec{ID: "res-b", Seller: "sell-1", Accounts: []string{"acc-77"}})
	if _, err := r.Publish(ctx, relay.Principal{Role: relay.RoleSeller, ID: "sell-1"},
		[]events.Event{event("n1", "acc-77", "1", "active"), event("n2", "acc-77", "2", "active")}); err != nil {
		t.Fatal(err)
	}
	if _, err := connectAs(t, url, "res-a", credB.Token); err == nil {
		t.Fatalf("res-a connected with res-b's token")
	}
	a, err := connectAs(t, url, "res-a", credA.Token)
	if err != nil {
		t.Fatalf("res-a connect: %v", err)
	}
	b, err := connectAs(t, url, "res-b", credB.Token)
	if err != nil {
		t.Fatalf("res-b connect: %v", err)
	}

	// Each reads and acks its own consumer.
	own := fetchOne(t, ctx, a, "res-a")
	wantForm := "$JS.ACK.DELIVERY.res-a."
	if ackV2 {
		wantForm = "$JS.ACK._." + core.AccountHash("$G") + ".DELIVERY.res-a."
	}
	if !strings.HasPrefix(own.Reply(), wantForm) {
		t.Fatalf("ack subject %q, want the %s form", own.Reply(), wantForm)
	}
	if err := own.DoubleAck(ctx); err != nil {
		t.Fatalf("res-a acking its own: %v", err)
	}
	theirs := fetchOne(t, ctx, b, "res-b")

	// res-a cannot fetch from res-b's consumer.
	if _, err := a.nc.Request("$JS.API.CONSUMER.MSG.NEXT.DELIVERY.res-b", []byte(`{"batch":1,"no_wait":true}`), time.Second); err == nil {
		t.Fatalf("res-a fetched from res-b")
	}
	a.mustViolate(t, "fetch from res-b")
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := a.js.Consumer(short, relay.StreamDelivery, "res-b"); err == nil {
		t.Fatalf("res-a read res-b's consumer info")
	}
	a.mustViolate(t, "info of res-b")
	// res-a cannot ack res-b's delivery.
	if err := a.nc.Publish(theirs.Reply(), []byte("+ACK")); err != nil {
		t.Fatal(err)
	}
	a.mustViolate(t, "ack on res-b's delivery")
	// res-a cannot listen to res-b's deliveries or inbox.
	for _, subj := range []string{"deliver.res-b.>", "deliver.>", core.InboxPrefix("res-b") + ".>", "$JS.ACK.>"} {
		if _, err := a.nc.SubscribeSync(subj); err != nil {
			t.Fatal(err)
		}
		a.mustViolate(t, "subscribe to "+subj)
	}
	if err := a.nc.Publish("events.sell-1.acc-77.1", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	a.mustViolate(t, "publishing an event")
	// res-b's delivery is still waiting for res-b's own ack.
	info, err := r.ResellerLag(ctx, "res-b")
	if err != nil || info.AckPending != 1 {
		t.Fatalf("res-b lag %+v, %v: res-a's ack must not have applied", info, err)
	}
	if err := theirs.DoubleAck(ctx); err != nil {
		t.Fatalf("res-b acking its own: %v", err)
	}
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
