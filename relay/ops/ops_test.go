package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/registry"
	"github.com/billrelay/billrelay/relay/store"
	"github.com/billrelay/billrelay/relay/store/storetest"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// The tests run each part on a real embedded nats-server (t.TempDir(),
// random port) with the relay's streams as relay/store provisions them;
// the registry, the owners, the consumer cache, the dead letter count and
// the ingest path are fakes behind the interfaces of Deps.

// desk is one part-under-test's world: JetStream, the fakes and the
// wired parts.
type desk struct {
	*Ops
	trail   *Trail
	streams *store.Store
	js      jetstream.JetStream
	dir     *fakeDir
	owners  *fakeOwners
	ingest  *fakeIngest
	dlq     *fakeDLQ
	fences  int // how often the parts waited on the fence
}

func newDesk(t *testing.T) *desk {
	t.Helper()
	js := startJetStream(t)
	d := &desk{js: js, dir: newFakeDir(), owners: &fakeOwners{to: map[events.Key][]string{}},
		ingest: &fakeIngest{seen: map[string]bool{}}, dlq: &fakeDLQ{}}
	cfg := testConfig(t)
	d.trail = NewTrail(js, zerolog.Nop())
	d.streams = store.New(js, cfg, zerolog.Nop(), nil)
	d.Ops = New(Config{Relay: cfg, JS: js, Log: zerolog.Nop(), Trail: d.trail, Dir: d.dir, Owners: d.owners, Ingest: d.ingest,
		Consumers: jsConsumers{js}, Streams: d.streams, DLQ: d.dlq, Fence: func(context.Context) error { d.fences++; return nil }})
	return d
}

func testConfig(t *testing.T) relay.Config {
	cfg := relay.Config{DataDir: t.TempDir()}
	cfg.SetDefaults()
	return cfg
}

// startJetStream runs a nats-server with JetStream and provisions the
// relay's streams and one DELIVERY stream.
func startJetStream(t *testing.T) jetstream.JetStream {
	t.Helper()
	cfg := testConfig(t)
	js := storetest.Start(t, cfg.DataDir).JS
	st := store.New(js, cfg, zerolog.Nop(), nil)
	ctx := testContext(t)
	if _, err := st.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.EnsureStream(ctx, st.DeliveryConfig(relay.StreamDelivery, []string{events.DeliverPrefix + ".>"})); err != nil {
		t.Fatal(err)
	}
	return js
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// fakeDir is the registry: sellers, resellers, and the pause state
// SetState records.
type fakeDir struct {
	mu        sync.Mutex
	sellers   map[string]relay.Seller
	resellers map[string]relay.Reseller
}

func newFakeDir() *fakeDir {
	return &fakeDir{sellers: map[string]relay.Seller{"sell-1": {ID: "sell-1"}}, resellers: map[string]relay.Reseller{
		"res-a": {ID: "res-a", Seller: "sell-1", Accounts: []string{"acc-1"}},
		"res-b": {ID: "res-b", Seller: "sell-1", Accounts: []string{"acc-1"}},
	}}
}

func (f *fakeDir) Seller(id string) (relay.Seller, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sellers[id]
	if !ok {
		return relay.Seller{}, fmt.Errorf("%w: seller %q", events.ErrNotFound, id)
	}
	return s, nil
}

func (f *fakeDir) Reseller(id string) (relay.Reseller, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rs, ok := f.resellers[id]
	if !ok {
		return relay.Reseller{}, fmt.Errorf("%w: reseller %q", events.ErrNotFound, id)
	}
	return rs, nil
}

func (f *fakeDir) EndpointOf(role relay.Role, id string) (relay.Destination, error) {
	if role == relay.RoleSeller {
		s, err := f.Seller(id)
		return registry.SellerEndpoint(s), err
	}
	rs, err := f.Reseller(id)
	return registry.ResellerEndpoint(rs), err
}

func (f *fakeDir) SetState(_ context.Context, ep relay.Destination, change func(w **relay.Webhook, paused *bool, reason *string)) (relay.Destination, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ep.Role == relay.RoleSeller {
		s := f.sellers[ep.ID]
		change(&s.Webhook, &s.Paused, &s.PauseReason)
		f.sellers[ep.ID] = s
		return registry.SellerEndpoint(s), nil
	}
	rs := f.resellers[ep.ID]
	change(&rs.Webhook, &rs.Paused, &rs.PauseReason)
	f.resellers[ep.ID] = rs
	return registry.ResellerEndpoint(rs), nil
}

// fakeOwners routes each item to the resellers the test says, else to
// nobody.
type fakeOwners struct{ to map[events.Key][]string }

func (f *fakeOwners) Owner(k events.Key) (string, bool) {
	if to := f.to[k]; len(to) == 1 {
		return to[0], true
	}
	return "", false
}
func (f *fakeOwners) Recipients(k events.Key) []string { return f.to[k] }

type jsConsumers struct{ js jetstream.JetStream }

func (c jsConsumers) Consumer(ctx context.Context, stream, name string) (jetstream.Consumer, error) {
	cons, err := c.js.Consumer(ctx, stream, name)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, fmt.Errorf("%w: consumer %s", events.ErrNotFound, name)
	}
	return cons, err
}

type fakeDLQ struct{ n int }

func (f *fakeDLQ) DLQCount(context.Context, string) (int, error) { return f.n, nil }

// receiptSubject is the receipts part's subject of a receipt.
func receiptSubject(rc relay.Receipt) string {
	return relay.ReceiptsPrefix + "." + rc.Stream + "." + rc.Consumer + "." + rc.Key.Seller + "." + rc.Key.Account + "." + rc.Key.Item
}

func key(item string) events.Key { return events.Key{Seller: "sell-1", Account: "acc-1", Item: item} }

// storeEvent stores a seller's event on EVENTS as the router does and
// returns its stream sequence.
func (d *desk) storeEvent(t *testing.T, k events.Key, id, typ, state string) uint64 {
	t.Helper()
	m := nats.NewMsg(events.EventSubject(k))
	m.Data = []byte(`{"id":"` + id + `"}`)
	m.Header.Set(relay.HeaderEventID, id)
	m.Header.Set(relay.HeaderType, typ)
	m.Header.Set(relay.HeaderState, state)
	ack, err := d.js.PublishMsg(testContext(t), m)
	if err != nil {
		t.Fatal(err)
	}
	return ack.Sequence
}

// storeReceipt stores what a reseller did with an item's event.
func (d *desk) storeReceipt(t *testing.T, reseller string, k events.Key, id, state, action string) {
	t.Helper()
	rc := relay.Receipt{Stream: relay.StreamDelivery, Consumer: reseller, EventID: id, State: state, Action: action, Key: k}
	b, _ := json.Marshal(rc)
	if _, err := d.js.Publish(testContext(t), receiptSubject(rc), b); err != nil {
		t.Fatal(err)
	}
}

// delivered reads every copy stored for reseller on DELIVERY.
func (d *desk) delivered(t *testing.T, reseller string) []*jetstream.RawStreamMsg {
	t.Helper()
	msgs, err := d.trail.Tail(testContext(t), relay.StreamDelivery, events.DeliverFilter(reseller), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

func (d *desk) auditActions(t *testing.T) []string {
	t.Helper()
	entries, err := d.trail.Audit(testContext(t), 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Action+" "+e.Target+" by "+e.Actor)
	}
	return out
}

// fieldsOf names the fields a validation error complains about.
func fieldsOf(err error) []string {
	var ve *events.ValidationError
	if !errors.As(err, &ve) {
		return nil
	}
	var out []string
	for _, f := range ve.Fields {
		out = append(out, f.Field)
	}
	slices.Sort(out)
	return out
}
