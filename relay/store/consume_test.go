package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/store"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// jetStream starts a bare embedded nats-server with JetStream on a random
// port and t.TempDir(), and connects to it.
func jetStream(t *testing.T) jetstream.JetStream {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// TestConsumeWatchNamesADeletedConsumer: a Consume whose consumer is
// deleted ends, and the watch says which consumer is gone.
func TestConsumeWatchNamesADeletedConsumer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	js := jetStream(t)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: relay.StreamDelivery, Subjects: []string{events.DeliverPrefix + ".>"}}); err != nil {
		t.Fatal(err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, relay.StreamDelivery, jetstream.ConsumerConfig{Durable: "res-1", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 1)
	cc, err := cons.Consume(func(jetstream.Msg) {}, store.ConsumeErrs(zerolog.Nop(), "test", errs),
		jetstream.PullExpiry(time.Second), jetstream.PullHeartbeat(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Stop()
	w := store.ConsumeWatch{Cons: cons, Errs: errs, Closed: cc.Closed()}
	if err := js.DeleteConsumer(ctx, relay.StreamDelivery, "res-1"); err != nil {
		t.Fatal(err)
	}
	var lost error
	for lost == nil {
		select {
		case err := <-errs:
			lost = w.Lost(ctx, err)
		case <-w.Closed:
			lost = w.Stopped()
		case <-ctx.Done():
			t.Fatal("the watch never noticed the deleted consumer")
		}
	}
	if !strings.Contains(lost.Error(), "consumer res-1") {
		t.Fatalf("lost: %v; want the consumer named", lost)
	}
}
