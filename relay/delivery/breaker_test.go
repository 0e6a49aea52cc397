package delivery_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/delivery"
	"github.com/billrelay/billrelay/relay/delivery/deliverytest"
)

// TestBreakerOpensThenAProbeClosesIt: after threshold failures the
// circuit opens; after the cooldown one probe goes through and its success
// closes the circuit.
func TestBreakerOpensThenAProbeClosesIt(t *testing.T) {
	src := deliverytest.New(deliverytest.Config{})
	seqs := publish(t, src, ev("c-1", "item-c"))
	var mu sync.Mutex
	var circuits []string
	cfg := delivery.DispatchConfig{Backoff: fast, BreakerThreshold: 2, BreakerCooldown: 20 * time.Millisecond,
		Report: func(st delivery.DeliveryStatus) { mu.Lock(); circuits = append(circuits, st.Circuit); mu.Unlock() }}
	sink := &recordingSink{script: func(_ context.Context, m relay.Message) error {
		if m.Attempt <= 2 {
			return errors.New("status 502")
		}
		return nil
	}}
	start(t, cfg, sink, src)
	until(t, src, "c-1 acked", settled(src, seqs["c-1"]))
	mu.Lock()
	defer mu.Unlock()
	open, half := slices.Index(circuits, delivery.CircuitOpen), slices.Index(circuits, delivery.CircuitHalfOpen)
	if open < 0 || half < open || circuits[len(circuits)-1] != delivery.CircuitClosed {
		t.Fatalf("circuit went %v; want open, half_open, then closed", circuits)
	}
}

// lateSource is a Source whose second fetch returns nothing, as a fetch
// does when its wait runs out, but only once the circuit has opened: the
// retry of the failed event then comes due while no fetch is waiting.
type lateSource struct {
	*deliverytest.Source
	calls  atomic.Int32
	opened <-chan struct{}
}

func (s *lateSource) Fetch(ctx context.Context, n int, wait time.Duration) ([]delivery.Delivered, error) {
	if s.calls.Add(1) == 2 {
		select {
		case <-s.opened:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return s.Source.Fetch(ctx, n, wait)
}

// TestOpenCircuitFetchesItsProbe: the circuit opens while nothing is held
// and no fetch is waiting. Once the cooldown is over the dispatcher must
// fetch again, or the failed event's retry (and every later event) waits
// in JetStream until the process restarts.
func TestOpenCircuitFetchesItsProbe(t *testing.T) {
	mem := deliverytest.New(deliverytest.Config{})
	seqs := publish(t, mem, ev("p-1", "item-p"))
	opened := make(chan struct{})
	var once sync.Once
	cfg := delivery.DispatchConfig{Backoff: fast, BreakerThreshold: 1, BreakerCooldown: 10 * time.Millisecond,
		Report: func(st delivery.DeliveryStatus) {
			if st.Circuit == delivery.CircuitOpen {
				once.Do(func() { close(opened) })
			}
		}}
	sink := &recordingSink{script: func(_ context.Context, m relay.Message) error {
		if m.Attempt == 1 {
			return errors.New("status 502")
		}
		return nil
	}}
	start(t, cfg, sink, &lateSource{Source: mem, opened: opened})
	until(t, mem, "p-1 delivered by the probe", settled(mem, seqs["p-1"]))
}
