package delivery

import (
	"context"
	"sync"
	"time"
)

// Circuit states.
const (
	CircuitClosed   = "closed"
	CircuitOpen     = "open"
	CircuitHalfOpen = "half_open"
)

// DeliveryStatus is what an endpoint's delivery looks like right now.
type DeliveryStatus struct {
	Circuit             string     `json:"circuit"`
	ConsecutiveFailures int        `json:"consecutive_failures"`
	OpenUntil           *time.Time `json:"open_until,omitempty"`
	LastError           string     `json:"last_error,omitempty"`
	LastErrorAt         *time.Time `json:"last_error_at,omitempty"`
	LastSuccessAt       *time.Time `json:"last_success_at,omitempty"`
}

// breaker stops hammering a receiver that keeps failing: after threshold
// consecutive failures it opens for a cooldown, then lets one probe
// through; the probe's success closes it, its failure doubles the cooldown.
type breaker struct {
	mu        sync.Mutex
	threshold int
	base, cap time.Duration
	cooldown  time.Duration
	st        DeliveryStatus
	probing   bool
	changed   chan struct{}
	report    func(DeliveryStatus)
}

func newBreaker(threshold int, base, cap time.Duration, report func(DeliveryStatus)) *breaker {
	return &breaker{threshold: threshold, base: base, cap: cap, cooldown: base,
		st: DeliveryStatus{Circuit: CircuitClosed}, changed: make(chan struct{}), report: report}
}

// wait blocks while the circuit is open; in half-open state it lets one
// caller through as the probe. It returns false if ctx ended.
func (b *breaker) wait(ctx context.Context) bool {
	for {
		b.mu.Lock()
		switch {
		case b.st.Circuit == CircuitClosed:
			b.mu.Unlock()
			return true
		case b.st.Circuit == CircuitOpen && time.Now().After(*b.st.OpenUntil):
			b.st.Circuit, b.probing = CircuitHalfOpen, true
			b.notifyLocked()
			b.mu.Unlock()
			return true
		}
		until, ch := time.Until(b.openUntil()), b.changed
		b.mu.Unlock()
		select {
		case <-ch:
		case <-time.After(max(until, 10*time.Millisecond)):
		case <-ctx.Done():
			return false
		}
	}
}

func (b *breaker) openUntil() time.Time {
	if b.st.OpenUntil == nil {
		return time.Now().Add(b.cooldown)
	}
	return *b.st.OpenUntil
}

// allowsFetch reports whether new messages should be taken in: not while
// the circuit is open, so that they stay in JetStream instead of in
// memory, but again once its cooldown is over: the probe has to be
// fetched when nothing is held, or the circuit would stay open for good.
func (b *breaker) allowsFetch() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.st.Circuit {
	case CircuitClosed:
		return true
	case CircuitOpen:
		return !time.Now().Before(*b.st.OpenUntil)
	}
	return false // half open: the probe is out
}

func (b *breaker) success() {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	wasClosed := b.st.Circuit == CircuitClosed && b.st.ConsecutiveFailures == 0
	b.st.Circuit, b.st.ConsecutiveFailures, b.st.OpenUntil, b.st.LastSuccessAt = CircuitClosed, 0, nil, &now
	b.cooldown, b.probing = b.base, false
	if !wasClosed {
		b.notifyLocked()
	}
}

func (b *breaker) failure(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	b.st.ConsecutiveFailures++
	b.st.LastError, b.st.LastErrorAt = err.Error(), &now
	switch {
	case b.st.Circuit == CircuitHalfOpen:
		b.cooldown = min(2*b.cooldown, b.cap)
		b.open(now)
	case b.st.Circuit == CircuitClosed && b.st.ConsecutiveFailures >= b.threshold:
		b.open(now)
	}
	b.notifyLocked()
}

func (b *breaker) open(now time.Time) {
	until := now.Add(b.cooldown)
	b.st.Circuit, b.st.OpenUntil, b.probing = CircuitOpen, &until, false
}

func (b *breaker) notifyLocked() {
	close(b.changed)
	b.changed = make(chan struct{})
	if b.report != nil {
		b.report(b.st)
	}
}
