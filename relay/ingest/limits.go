package ingest

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
)

// Orders a reseller publishes go through INGEST and the router into ORDERS,
// both shared by every tenant: a reseller that floods them would fill the
// store for all. So each reseller has a token bucket: OrderBurst orders at
// once, refilled at OrderRate per second. Past it that reseller alone is
// answered 429 with the time its next order passes; sellers' events and
// other resellers' orders do not wait. The buckets live in each relay's
// memory (several relays on one cluster each grant the rate) and hold one
// entry per registered reseller that ordered.
type tokenBuckets struct {
	mu    sync.Mutex
	rate  float64 // tokens per second
	burst float64
	m     map[string]*tokenBucket
}

type tokenBucket struct {
	tokens float64
	at     time.Time
}

func newTokenBuckets(rate float64, burst int) *tokenBuckets {
	return &tokenBuckets{rate: rate, burst: float64(burst), m: map[string]*tokenBucket{}}
}

// take spends n tokens of id's bucket at now, or spends none and says how
// long until n are there.
func (b *tokenBuckets) take(id string, n int, now time.Time) (time.Duration, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	tb := b.m[id]
	if tb == nil {
		tb = &tokenBucket{tokens: b.burst, at: now}
		b.m[id] = tb
	}
	tb.tokens = min(b.burst, tb.tokens+now.Sub(tb.at).Seconds()*b.rate)
	tb.at = now
	if need := float64(n); tb.tokens < need {
		return time.Duration((need - tb.tokens) / b.rate * float64(time.Second)), false
	}
	tb.tokens -= float64(n)
	return 0, true
}

// limitOrders checks a reseller's request against its order rate and
// ORDERS' room.
func (r *Ingest) limitOrders(ctx context.Context, reseller string, evs []events.Event) error {
	if err := r.takeOrders(reseller, len(evs)); err != nil {
		return err
	}
	return r.checkOrdersRoom(ctx, evs)
}

// takeOrders spends one token per event of a reseller's request. A batch
// larger than the whole bucket could never pass: it is too large, not too
// early.
func (r *Ingest) takeOrders(reseller string, n int) error {
	if n > r.cfg.OrderBurst {
		return events.Invalid("[]", "%d orders in one request; a reseller may send at most %d at once (RELAY_ORDER_BURST)", n, r.cfg.OrderBurst)
	}
	after, ok := r.orderRate.take(reseller, n, time.Now())
	if ok {
		return nil
	}
	r.metrics.Throttled.WithLabelValues(reseller).Inc()
	return events.Throttle(after, "[]", "reseller %q is over its order rate of %s per second (burst %d); retry after %s",
		reseller, strconv.FormatFloat(r.cfg.OrderRate, 'g', -1, 64), r.cfg.OrderBurst, after.Round(time.Millisecond))
}

// ordersFullAt is the share of ORDERS' room past which resellers' orders
// are refused: the router must never meet a full ORDERS, since it stores
// envelopes in order and one it cannot store holds up every seller's
// events behind it. The rest covers orders already accepted but not yet
// routed (a few seconds at the order rate).
const ordersFullAt = 0.9

// roomCheck follows how full a stream is: its size as JetStream last
// reported it (one stream info a second, whatever the request rate) plus
// what this relay accepted for it since, so that a burst within the second
// cannot overshoot.
type roomCheck struct {
	mu          sync.Mutex
	at          time.Time
	held, limit int64
	added       int64
}

// orderOverhead is what an order costs beyond its data once stored: its
// attributes, subject and headers (an overestimate).
const orderOverhead = 1024

// checkOrdersRoom answers 507 to a reseller's orders once ORDERS would be
// nearly full with them; sellers' events are not affected.
func (r *Ingest) checkOrdersRoom(ctx context.Context, evs []events.Event) error {
	var size int64
	for _, e := range evs {
		size += int64(len(e.Data)) + orderOverhead
	}
	c := &r.ordersRoom
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.at) > time.Second {
		info, err := r.streamInfo(ctx, relay.StreamOrders)
		if err != nil {
			return err
		}
		if info != nil {
			c.held, c.limit = int64(info.State.Bytes), info.Config.MaxBytes
		}
		c.at, c.added = time.Now(), 0
	}
	if c.limit > 0 && float64(c.held+c.added+size) > ordersFullAt*float64(c.limit) {
		return fmt.Errorf("%w: ORDERS would pass %.0f%% of its room; orders wait until sellers' old orders age out", events.ErrStorageFull, 100*ordersFullAt)
	}
	c.added += size
	return nil
}
