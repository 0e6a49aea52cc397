package node_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/node"
	"github.com/billrelay/billrelay/relay/pull"
	"github.com/rs/zerolog"
)

// syncBuffer is a log sink safe for the relay's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func openStore(t *testing.T, dir string, store int64, log zerolog.Logger) *node.Node {
	return openStoreSharded(t, dir, store, 1, log)
}

func openStoreSharded(t *testing.T, dir string, store int64, shards int, log zerolog.Logger) *node.Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := relay.Config{DataDir: dir, SyncAlways: true, AckWait: time.Minute, MaxFileStore: store, DeliveryShards: shards}
	r, err := node.Open(ctx, cfg, log)
	if err != nil {
		t.Fatalf("Open with a %d byte store: %v", store, err)
	}
	return r
}

// TestStoreThatRefusesTheLayoutStillSettles opens a store laid out for 64
// MiB with a 4 MiB limit, as an operator who lowers RELAY_MAX_FILE_STORE
// (or a store an older version filled) does. JetStream then refuses every
// new limit: the relay keeps each stream as it is, names it in a warning,
// and starts. Its streams' room now adds up to more than the store, so
// ingest fills the whole store and even receipts find no room: acks and
// terms are still applied, without receipts, and the warning says so.
func TestStoreThatRefusesTheLayoutStillSettles(t *testing.T) {
	dir := t.TempDir()
	r := openStore(t, dir, 64<<20, zerolog.Nop())
	ctx := testCtx(t)
	if _, _, err := r.Registry().RegisterSeller(ctx, "sell-1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Registry().RegisterReseller(ctx, relay.ResellerSpec{ID: "res-a", Seller: "sell-1", Accounts: []string{"acc-77"}}); err != nil {
		t.Fatal(err)
	}
	r.Close()

	logs := &syncBuffer{}
	r = openStore(t, dir, 4<<20, zerolog.New(logs))
	defer r.Close()
	for _, s := range []string{relay.StreamIngest, relay.StreamReceipts, relay.StreamDelivery} {
		if !strings.Contains(logs.String(), `"stream":"`+s+`"`) || !strings.Contains(logs.String(), "keeps its old configuration") {
			t.Fatalf("no warning that %s keeps its old configuration:\n%s", s, logs)
		}
	}
	accepted := fillRelay(t, r)
	var ds []pull.Delivery // what the router could copy before the store filled
	for {
		got, err := r.Inbox().Pull(ctx, relay.RoleReseller, "res-a", 1000, time.Second)
		if err != nil {
			t.Fatalf("Pull: %v", err)
		}
		if len(got) == 0 {
			break
		}
		ds = append(ds, got...)
	}
	n := len(ds)
	t.Logf("%d events accepted, %d copied to res-a before the store filled", accepted, n)
	req := pull.AckRequest{Term: []pull.Term{{AckID: ds[0].AckID, Reason: "unknown item"}}}
	for _, d := range ds[1:] {
		req.Ack = append(req.Ack, d.AckID)
	}
	res, err := r.Inbox().Ack(ctx, relay.RoleReseller, "res-a", req)
	if err != nil || res.Acked != n-1 || res.Termed != 1 || len(res.Errors) != 0 {
		t.Fatalf("settling on a store with no room for receipts: %+v, %v", res, err)
	}
	if !strings.Contains(logs.String(), `"receipts_skipped":`+fmt.Sprint(n)) {
		t.Fatalf("no warning with receipts_skipped=%d:\n%s", n, logs)
	}
	if again, err := r.Inbox().Pull(ctx, relay.RoleReseller, "res-a", 10, 0); err != nil || len(again) != 0 {
		t.Fatalf("after settling: %v, %v; want nothing", ids(again), err)
	}
}

// fillRelay publishes batches of ~1 KB events for res-a until the store
// refuses one and returns how many were accepted.
func fillRelay(t *testing.T, r *node.Node) int {
	t.Helper()
	seller := relay.Principal{Role: relay.RoleSeller, ID: "sell-1"}
	pad := strings.Repeat("x", 1000)
	for n := 0; n < 100_000; n += 50 {
		var batch []events.Event
		for k := range 50 {
			e := event(fmt.Sprintf("f%06d", n+k), "acc-77", fmt.Sprintf("i%d", k), "active")
			e.Data = []byte(`{"state":"active","message":"` + pad + `"}`)
			batch = append(batch, e)
		}
		_, err := r.Ingest().Publish(testCtx(t), seller, batch)
		if errors.Is(err, events.ErrStorageFull) {
			return n
		}
		if err != nil {
			t.Fatalf("Publish %d: %v", n, err)
		}
	}
	t.Fatal("the store never filled")
	return 0
}

// TestMoreShardsDoNotStarveAFullStream raises the delivery shards of a
// store whose DELIVERY already holds more than its new share (a 16th of
// DELIVERY's part): DELIVERY keeps room for what it holds and a quarter
// more, so new events still reach res-a instead of stopping the router.
func TestMoreShardsDoNotStarveAFullStream(t *testing.T) {
	dir := t.TempDir()
	r := openStoreSharded(t, dir, 32<<20, 1, zerolog.Nop())
	ctx := testCtx(t)
	if _, _, err := r.Registry().RegisterSeller(ctx, "sell-1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Registry().RegisterReseller(ctx, relay.ResellerSpec{ID: "res-a", Seller: "sell-1", Accounts: []string{"acc-77"}}); err != nil {
		t.Fatal(err)
	}
	seller := relay.Principal{Role: relay.RoleSeller, ID: "sell-1"}
	pad := strings.Repeat("x", 1000)
	for n := 0; n < 1500; n += 50 {
		var batch []events.Event
		for k := range 50 {
			e := event(fmt.Sprintf("h%05d", n+k), "acc-77", fmt.Sprintf("i%d", k), "active")
			e.Data = []byte(`{"state":"active","message":"` + pad + `"}`)
			batch = append(batch, e)
		}
		if _, err := r.Ingest().Publish(ctx, seller, batch); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	for got := 0; got < 1500; {
		ds := pullN(t, r, "res-a", min(1000, 1500-got))
		ackAll(t, r, "res-a", ds)
		got += len(ds)
	}
	r.Close()

	logs := &syncBuffer{}
	r = openStoreSharded(t, dir, 32<<20, 16, zerolog.New(logs))
	defer r.Close()
	if _, err := r.Ingest().Publish(ctx, seller, []events.Event{event("after", "acc-77", "i1", "active")}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if got := pullN(t, r, "res-a", 1); ids(got)[0] != "after" {
		t.Fatalf("res-a got %v, want the new event", ids(got))
	}
	if !strings.Contains(logs.String(), `"stream":"DELIVERY","held_bytes"`) {
		t.Fatalf("no warning that DELIVERY holds more than its share:\n%s", logs)
	}
}

// TestOrdersFloodStopsNoSeller: a reseller orders until ORDERS is nearly
// full and is answered 507; the seller's events are still accepted and
// routed, since the router never meets a full ORDERS that would hold them
// up behind an order it cannot store.
func TestOrdersFloodStopsNoSeller(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := relay.Config{DataDir: t.TempDir(), SyncAlways: true, AckWait: time.Minute, MaxFileStore: 2 << 20,
		OrderRate: 1e6, OrderBurst: 1000}
	r, err := node.Open(ctx, cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, spec := range []relay.ResellerSpec{{ID: "res-a", Seller: "sell-1", Accounts: []string{"acc-77"}}, {ID: "res-b", Seller: "sell-1", Accounts: []string{"acc-77"}}} {
		if spec.ID == "res-a" {
			if _, _, err := r.Registry().RegisterSeller(ctx, "sell-1"); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := r.Registry().RegisterReseller(ctx, spec); err != nil {
			t.Fatal(err)
		}
	}
	reseller := relay.Principal{Role: relay.RoleReseller, ID: "res-a"}
	pad := strings.Repeat("x", 1000)
	refused := false
	for n := 0; n < 10_000 && !refused; n += 10 {
		var batch []events.Event
		for k := range 10 {
			e := event(fmt.Sprintf("o%05d", n+k), "acc-77", fmt.Sprintf("o%05d", n+k), "")
			e.Type, e.Data = events.TypeOrderPlaced, []byte(`{"note":"`+pad+`"}`)
			batch = append(batch, e)
		}
		_, err := r.Ingest().Publish(testCtx(t), reseller, batch)
		refused = errors.Is(err, events.ErrStorageFull)
		if err != nil && !refused {
			t.Fatalf("order %d: %v", n, err)
		}
	}
	if !refused {
		t.Fatal("ORDERS never filled")
	}
	seller := relay.Principal{Role: relay.RoleSeller, ID: "sell-1"}
	if _, err := r.Ingest().Publish(ctx, seller, []events.Event{event("after", "acc-77", "shared", "active")}); err != nil {
		t.Fatalf("the seller's event after the flood: %v", err)
	}
	if got := pullN(t, r, "res-b", 1); ids(got)[0] != "after" {
		t.Fatalf("res-b got %v", ids(got))
	}
}
