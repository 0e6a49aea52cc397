package ops

import (
	"errors"
	"slices"
	"testing"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/registry"
	"github.com/nats-io/nats.go"
)

// storeCopy stores one copy for reseller on DELIVERY.
func (d *desk) storeCopy(t *testing.T, reseller string, k events.Key) {
	t.Helper()
	m := nats.NewMsg(events.DeliverSubject(reseller, k))
	m.Data = []byte(`{}`)
	if _, err := d.js.PublishMsg(testContext(t), m); err != nil {
		t.Fatal(err)
	}
}

// TestStatusCountsWhatIsBehind: a reseller's status has its consumer's
// figures, its dead letters, and the age of its oldest unacked copy; the
// lag figures move as copies are fetched and acked.
func TestStatusCountsWhatIsBehind(t *testing.T) {
	d := newDesk(t)
	ctx := testContext(t)
	rs, _ := d.dir.Reseller("res-a")
	c := d.addConsumer(t, registry.ResellerEndpoint(rs))
	d.storeCopy(t, "res-b", key("item-0")) // another reseller's: not res-a's backlog
	for _, it := range []string{"item-1", "item-2", "item-3"} {
		d.storeCopy(t, "res-a", key(it))
	}
	d.dlq.n = 2
	st, err := d.ResellerStatus(ctx, "res-a")
	if err != nil || st.Pending != 3 || st.AckPending != 0 || st.DLQ != 2 || st.OldestUnacked <= 0 || st.OldestUnackedSeconds != st.OldestUnacked.Seconds() {
		t.Fatalf("ResellerStatus = %+v %v", st, err)
	}
	batch, err := c.FetchNoWait(2)
	if err != nil {
		t.Fatal(err)
	}
	first := true
	for m := range batch.Messages() {
		if first {
			_ = m.DoubleAck(ctx)
			first = false
		}
	}
	lag, err := d.ResellerLag(ctx, "res-a")
	if err != nil || lag.Pending != 1 || lag.AckPending != 1 || lag.LastDelivered.Seq != 3 || lag.LastAcked.Seq != 2 {
		t.Fatalf("ResellerLag = %+v %v", lag, err)
	}
	if _, err := d.ResellerStatus(ctx, "res-x"); !errors.Is(err, events.ErrNotFound) {
		t.Fatalf("unknown reseller: %v", err)
	}
	if _, err := d.SellerStatus(ctx, "sell-1"); !errors.Is(err, events.ErrNotFound) {
		t.Fatalf("a seller without consumer: %v", err)
	}
}

// TestStatusOfAnEndpointInSync: nothing pending, nothing unacked, no age.
func TestStatusOfAnEndpointInSync(t *testing.T) {
	d := newDesk(t)
	rs, _ := d.dir.Reseller("res-b")
	d.addConsumer(t, registry.ResellerEndpoint(rs))
	st, err := d.EndpointStatus(testContext(t), registry.ResellerEndpoint(rs))
	if err != nil || st.Pending != 0 || st.OldestUnacked != 0 || st.DLQ != 0 {
		t.Fatalf("EndpointStatus = %+v %v", st, err)
	}
}

// TestItemShowsStateOwnerAndReceipts: the item view has the seller's last
// event, the owner, the recipients and the last receipt of each.
func TestItemShowsStateOwnerAndReceipts(t *testing.T) {
	d := newDesk(t)
	ctx := testContext(t)
	d.owners.to[key("item-1")] = []string{"res-a"}
	d.storeEvent(t, key("item-1"), "e1", events.TypeServiceStateChanged, events.ServiceProvisioning)
	seq := d.storeEvent(t, key("item-1"), "e2", events.TypeServiceStateChanged, events.ServiceActive)
	d.storeReceipt(t, "res-a", key("item-1"), "e1", events.ServiceProvisioning, relay.ActionApplied)
	v, err := d.Item(ctx, key("item-1"))
	if err != nil {
		t.Fatal(err)
	}
	if v.Owner != "res-a" || !slices.Equal(v.Recipients, []string{"res-a"}) || v.State != events.ServiceActive || v.EventID != "e2" || v.Seq != seq || v.Time.IsZero() {
		t.Fatalf("item view %+v", v)
	}
	if len(v.Receipts) != 1 || v.Receipts[0].EventID != "e1" || v.Receipts[0].Action != relay.ActionApplied {
		t.Fatalf("receipts %+v", v.Receipts)
	}
	if _, err := d.Item(ctx, key("item-9")); !errors.Is(err, events.ErrNotFound) {
		t.Fatalf("an item nobody knows: %v", err)
	}
	if _, err := d.Item(ctx, key("bad item")); !slices.Equal(fieldsOf(err), []string{"item"}) {
		t.Fatalf("a bad item id: %v", err)
	}
}

// TestTailReadsTheLastOnes: Tail gives the last limit messages of a
// filter, oldest first, and nothing of an empty one.
func TestTailReadsTheLastOnes(t *testing.T) {
	d := newDesk(t)
	ctx := testContext(t)
	for _, it := range []string{"item-1", "item-2", "item-3"} {
		d.storeCopy(t, "res-a", key(it))
	}
	msgs, err := d.trail.Tail(ctx, relay.StreamDelivery, events.DeliverFilter("res-a"), 2)
	if err != nil || len(msgs) != 2 || msgs[0].Sequence != 2 || msgs[1].Sequence != 3 {
		t.Fatalf("Tail = %d msgs %v", len(msgs), err)
	}
	if msgs, err := d.trail.Tail(ctx, relay.StreamDelivery, events.DeliverFilter("res-b"), 2); err != nil || len(msgs) != 0 {
		t.Fatalf("Tail of nothing = %d msgs %v", len(msgs), err)
	}
}
