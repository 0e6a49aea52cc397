package delivery_test

import (
	"testing"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/delivery"
	"github.com/billrelay/billrelay/relay/store/storetest"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// deliveryConsumer makes a DELIVERY-like stream with n events of one item
// for res-1 and res-1's durable consumer.
func deliveryConsumer(t *testing.T, js jetstream.JetStream, n int) jetstream.Consumer {
	t.Helper()
	ctx := testCtx(t)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: relay.StreamDelivery, Subjects: []string{events.DeliverPrefix + ".>"}}); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		e := ev("e-"+string(rune('a'+i)), "item-1")
		m := nats.NewMsg(events.DeliverSubject("res-1", e.Key()))
		m.Header.Set(relay.HeaderEventID, e.ID)
		m.Data = []byte(`{}`)
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, relay.StreamDelivery, jetstream.ConsumerConfig{
		Durable: "res-1", FilterSubject: events.DeliverFilter("res-1"), AckPolicy: jetstream.AckExplicitPolicy, AckWait: 30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return cons
}

// TestConsumerSourceTakesNoMoreThanAsked: the source asks JetStream for
// no more than the dispatcher has room for, so nothing else is pending in
// a client buffer with its ack timer running.
func TestConsumerSourceTakesNoMoreThanAsked(t *testing.T) {
	ctx := testCtx(t)
	cons := deliveryConsumer(t, storetest.JetStream(t), 5)
	src := delivery.ConsumerSource{Consumer: cons}
	ms, err := src.Fetch(ctx, 2, time.Second)
	if err != nil || len(ms) != 2 {
		t.Fatalf("fetch 2: %d, %v", len(ms), err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.NumAckPending != 2 {
		t.Fatalf("%d messages pending ack after taking 2", info.NumAckPending)
	}
	md, _ := ms[0].Metadata()
	if md.Sequence.Stream != 1 || ms[0].Headers().Get(relay.HeaderEventID) != "e-a" {
		t.Fatalf("first message: seq %d id %q", md.Sequence.Stream, ms[0].Headers().Get(relay.HeaderEventID))
	}
}

// TestKVGatesRoundTrip: gates survive in the bucket per reseller; one
// reseller never loads another's; clearing a gate that is not there is no
// error.
func TestKVGatesRoundTrip(t *testing.T) {
	ctx := testCtx(t)
	js := storetest.JetStream(t)
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: relay.BucketGates})
	if err != nil {
		t.Fatal(err)
	}
	a, b := delivery.KVGates{Kv: kv, Reseller: "res-a"}, delivery.KVGates{Kv: kv, Reseller: "res-b"}
	k := events.Key{Seller: "sell-1", Account: "acc/ü 1", Item: "order:7"}
	due := time.Now().Add(time.Minute).UTC().Truncate(time.Millisecond)
	if err := a.Save(ctx, k, delivery.Gate{Seq: 42, Due: due}); err != nil {
		t.Fatal(err)
	}
	got, err := a.Load(ctx)
	if err != nil || len(got) != 1 || got[k].Seq != 42 || !got[k].Due.Equal(due) {
		t.Fatalf("load: %+v, %v", got, err)
	}
	if other, err := b.Load(ctx); err != nil || len(other) != 0 {
		t.Fatalf("res-b loaded %+v, %v", other, err)
	}
	if err := a.Clear(ctx, k); err != nil {
		t.Fatal(err)
	}
	if err := a.Clear(ctx, k); err != nil {
		t.Fatalf("second clear: %v", err)
	}
	if got, err := a.Load(ctx); err != nil || len(got) != 0 {
		t.Fatalf("after clear: %+v, %v", got, err)
	}
}
