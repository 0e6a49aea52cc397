package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/store"
	"github.com/billrelay/billrelay/relay/store/storetest"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// TestConsumeWatchNamesADeletedConsumer: a Consume whose consumer is
// deleted ends, and the watch says which consumer is gone.
func TestConsumeWatchNamesADeletedConsumer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	js := storetest.JetStream(t)
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
