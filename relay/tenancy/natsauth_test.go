package tenancy

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/billrelay/billrelay/relay"
	"github.com/nats-io/nats.go/jetstream"
)

// TestResellerNATSPermissions: a reseller logs in with its own token only,
// reads and acks its own consumer, and can neither fetch, read the info
// of, ack nor listen to another's, nor publish an event. The v2 ack
// subjects carry AccountHash of the relay's account.
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
	ctx := t.Context()
	b := startBench(t, map[string]bool{"js_ack_fc_v2": ackV2})
	tokens := b.register(t, "res-a", "res-b")
	b.deliver(t, "res-a", 1)
	b.deliver(t, "res-b", 1)
	if _, err := connectAs(t, b.url, "res-a", tokens["res-b"]); err == nil {
		t.Fatalf("res-a connected with res-b's token")
	}
	a, err := connectAs(t, b.url, "res-a", tokens["res-a"])
	if err != nil {
		t.Fatalf("res-a connect: %v", err)
	}
	rb, err := connectAs(t, b.url, "res-b", tokens["res-b"])
	if err != nil {
		t.Fatalf("res-b connect: %v", err)
	}

	// Each reads and acks its own consumer.
	own := fetchOne(t, ctx, a, "res-a")
	wantForm := "$JS.ACK.DELIVERY.res-a."
	if ackV2 {
		wantForm = "$JS.ACK._." + AccountHash("$G") + ".DELIVERY.res-a."
	}
	if !strings.HasPrefix(own.Reply(), wantForm) {
		t.Fatalf("ack subject %q, want the %s form", own.Reply(), wantForm)
	}
	if err := own.DoubleAck(ctx); err != nil {
		t.Fatalf("res-a acking its own: %v", err)
	}
	theirs := fetchOne(t, ctx, rb, "res-b")

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
	for _, subj := range []string{"deliver.res-b.>", "deliver.>", InboxPrefix("res-b") + ".>", "$JS.ACK.>"} {
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
	cons, err := b.js.Consumer(ctx, relay.StreamDelivery, "res-b")
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(ctx)
	if err != nil || info.NumAckPending != 1 {
		t.Fatalf("res-b consumer %+v, %v: res-a's ack must not have applied", info, err)
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
