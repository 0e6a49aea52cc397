package pull

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// finalDeliveries watches pulls handed out on their last allowed delivery.
// JetStream only notices that such a message ran out when someone pulls
// again; a reseller that died may never pull again. So when the ack wait of
// a final delivery passes without an ack, the relay dead-letters it itself
// (reconciling what the consumer holds with what was settled).
type finalDeliveries struct {
	ackWait time.Duration
	// settled reports whether this delivery was acked or terminated, and
	// progressed when its ack timer last restarted (zero: never).
	settled    func(stream, consumer string, seq, attempt uint64) bool
	progressed func(stream, consumer string, seq, attempt uint64) time.Time
	// deadLetter copies an unsettled final delivery to the dead letters.
	deadLetter func(ctx context.Context, fd finalDelivery, reason string) error

	mu  sync.Mutex
	due map[string]finalDelivery
}

type finalDelivery struct {
	stream, reseller, subject string
	seq                       uint64
	attempt                   uint64
	body                      []byte
	at                        time.Time
}

// finalGrace is how long after its ack timer (re)started a final delivery
// is watched: its ack wait, and a margin for the ack on its way.
func finalGrace(ackWait time.Duration) time.Duration { return ackWait + 2*time.Second }

func newFinalDeliveries(ackWait time.Duration) *finalDeliveries {
	return &finalDeliveries{ackWait: ackWait, due: map[string]finalDelivery{}}
}

func (f *finalDeliveries) add(fd finalDelivery) {
	f.mu.Lock()
	f.due[settledKey(fd.stream, fd.reseller, fd.seq, fd.attempt)] = fd
	f.mu.Unlock()
}

// Run is the part that dead-letters final deliveries whose ack wait
// passed, checking every second.
func (f *finalDeliveries) Run(ctx context.Context) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil
		}
		f.deadLetterRipe(ctx)
	}
}

func (f *finalDeliveries) deadLetterRipe(ctx context.Context) {
	for key, fd := range f.ripe() {
		// Progress restarted its ack timer: watch it again from there.
		if due := f.progressed(fd.stream, fd.reseller, fd.seq, fd.attempt).Add(finalGrace(f.ackWait)); due.After(fd.at) {
			fd.at = due
			f.add(fd)
			continue
		}
		if !f.settled(fd.stream, fd.reseller, fd.seq, fd.attempt) {
			reason := fmt.Sprintf("max deliveries reached: not acked within %s of delivery %d", f.ackWait, fd.attempt)
			if err := f.deadLetter(ctx, fd, reason); err != nil {
				continue // try again next tick
			}
		}
		f.mu.Lock()
		delete(f.due, key)
		f.mu.Unlock()
	}
}

func (f *finalDeliveries) ripe() map[string]finalDelivery {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]finalDelivery{}
	for k, fd := range f.due {
		if time.Now().After(fd.at) {
			out[k] = fd
		}
	}
	return out
}
