package relay

import (
	"strconv"
	"sync"
	"time"

	"github.com/billrelay/billrelay/events"
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

// limitOrders spends one token per event of a reseller's request. A batch
// larger than the whole bucket could never pass: it is too large, not too
// early.
func (r *Relay) limitOrders(reseller string, n int) error {
	if n > r.cfg.OrderBurst {
		return events.Invalid("[]", "%d orders in one request; a reseller may send at most %d at once (RELAY_ORDER_BURST)", n, r.cfg.OrderBurst)
	}
	after, ok := r.orderRate.take(reseller, n, time.Now())
	if ok {
		return nil
	}
	r.metrics.throttled.WithLabelValues(reseller).Inc()
	return events.Throttle(after, "[]", "reseller %q is over its order rate of %s per second (burst %d); retry after %s",
		reseller, strconv.FormatFloat(r.cfg.OrderRate, 'g', -1, 64), r.cfg.OrderBurst, after.Round(time.Millisecond))
}
