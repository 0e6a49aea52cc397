package delivery_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/delivery"
	"github.com/billrelay/billrelay/relay/delivery/deliverytest"
)

// memGates is a GateStore shared by two dispatcher lifetimes.
type memGates struct {
	mu sync.Mutex
	m  map[events.Key]delivery.Gate
}

func (g *memGates) Load(context.Context) (map[events.Key]delivery.Gate, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[events.Key]delivery.Gate{}
	for k, v := range g.m {
		out[k] = v
	}
	return out, nil
}

func (g *memGates) Save(_ context.Context, k events.Key, v delivery.Gate) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.m[k] = v
	return nil
}

func (g *memGates) Clear(_ context.Context, k events.Key) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.m, k)
	return nil
}

// sinkFunc is a hand-written fake receiver.
type sinkFunc func(context.Context, relay.Message) error

func (f sinkFunc) Deliver(ctx context.Context, m relay.Message) error { return f(ctx, m) }

// TestGateKeepsItemOrderAcrossRestart: the first event of an item fails
// and waits for its retry; the dispatcher stops (its held events go back to
// JetStream) and a new one starts. The item's later events must still wait
// for the failed one.
func TestGateKeepsItemOrderAcrossRestart(t *testing.T) {
	ctx := testCtx(t)
	src := deliverytest.New("res-a", 5*time.Second)
	k := events.Key{Seller: "isp-1", Account: "acc-77", Item: "i"}
	for _, id := range []string{"o1", "o2", "o3"} {
		src.Publish(id, events.TypeServiceStateChanged, k, []byte(`{"id":"`+id+`"}`))
	}
	gates := &memGates{m: map[events.Key]delivery.Gate{}}
	var mu sync.Mutex
	var order []string
	failed := make(chan struct{})
	delivered := make(chan struct{}, 10)
	sink := func(fail bool) relay.Sink {
		return sinkFunc(func(_ context.Context, m relay.Message) error {
			mu.Lock()
			defer mu.Unlock()
			if fail && m.ID == "o1" {
				close(failed)
				return errors.New("503")
			}
			order = append(order, m.ID)
			delivered <- struct{}{}
			return nil
		})
	}
	cfg := delivery.DispatchConfig{Concurrency: 4, Backoff: []time.Duration{1500 * time.Millisecond}, AckWait: 5 * time.Second, Gates: gates}

	ctx1, stop1 := context.WithCancel(ctx)
	done1 := make(chan struct{})
	go func() {
		defer close(done1)
		_ = delivery.NewDispatcher(cfg, sink(true), src).Run(ctx1)
	}()
	<-failed
	stop1()
	<-done1

	go func() { _ = delivery.NewDispatcher(cfg, sink(false), src).Run(ctx) }()
	for range 3 {
		select {
		case <-delivered:
		case <-ctx.Done():
			t.Fatalf("delivered only %v", order)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(order) != 3 || order[0] != "o1" || order[1] != "o2" || order[2] != "o3" {
		t.Fatalf("delivery order after restart %v, want [o1 o2 o3]", order)
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
