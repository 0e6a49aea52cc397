package node_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/pull"
)

// TestConcurrentAcksAllLand acks 100 resellers' deliveries at once. Each
// ack journals its receipts before it applies; written one by one they
// overran the connection's async publish limit, and as 100 concurrent
// atomic batches they overran the server's 50 in flight per stream, so
// acks failed with internal errors under load.
func TestConcurrentAcksAllLand(t *testing.T) {
	w := setup(t)
	ctx := testCtx(t)
	const resellers, perReseller = 100, 200
	for i := range resellers {
		spec := relay.ResellerSpec{ID: fmt.Sprintf("res-x%03d", i), Seller: "sell-1", Accounts: []string{"acc-many"}}
		if _, _, err := w.r.Registry().RegisterReseller(ctx, spec); err != nil {
			t.Fatalf("RegisterReseller: %v", err)
		}
	}
	var batch []events.Event
	for i := range perReseller {
		batch = append(batch, event(fmt.Sprintf("m%d", i), "acc-many", fmt.Sprintf("i%d", i%50), "active"))
	}
	if _, err := w.r.Ingest().Publish(ctx, w.seller, batch); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	pulled := make([][]pull.Delivery, resellers)
	for i := range resellers {
		pulled[i] = pullN(t, w.r, fmt.Sprintf("res-x%03d", i), perReseller)
	}
	start := make(chan struct{})
	errs := make(chan error, resellers)
	var wg sync.WaitGroup
	for i := range resellers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := pull.AckRequest{}
			for _, d := range pulled[i] {
				req.Ack = append(req.Ack, d.AckID)
			}
			<-start
			res, err := w.r.Inbox().Ack(ctx, relay.RoleReseller, fmt.Sprintf("res-x%03d", i), req)
			if err == nil && (res.Acked != perReseller || len(res.Errors) > 0) {
				err = fmt.Errorf("acked %d of %d: %+v", res.Acked, perReseller, res.Errors)
			}
			errs <- err
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent ack: %v", err)
		}
	}
}
