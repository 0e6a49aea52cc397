package core

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/store"
	"github.com/nats-io/nats.go/jetstream"
)

// JetStream reports a message that ran out of deliveries, or that a client
// terminated, only as an advisory: a pointer, published once, lost if
// nobody listens. The relay captures both advisories of the delivery
// streams in the ADVISORIES stream, so that none is lost while the relay is
// down, and a durable consumer turns each into a dead-letter copy.
const (
	deadWatchName = "dead-letters"
)

type advisory struct {
	Type       string `json:"type"`
	Stream     string `json:"stream"`
	Consumer   string `json:"consumer"`
	StreamSeq  uint64 `json:"stream_seq"`
	Deliveries uint64 `json:"deliveries"`
	Reason     string `json:"reason"`
}

func (r *Relay) startDeadWatch(ctx, bg context.Context) error {
	dw := &deadWatch{r: r}
	if err := r.sup.open(ctx, bg, part{name: "dead-letters", open: dw.open, run: dw.run, vital: true}); err != nil {
		return err
	}
	return r.sup.open(ctx, bg, part{name: "final-deliveries", run: r.finals.runner(r), vital: true})
}

// deadWatch is the part that turns advisories into dead letters.
type deadWatch struct {
	r    *Relay
	cons jetstream.Consumer
}

func (dw *deadWatch) open(ctx context.Context) error {
	cons, err := dw.r.js.CreateOrUpdateConsumer(ctx, relay.StreamAdvisories, jetstream.ConsumerConfig{
		Durable: deadWatchName, Description: "copies exhausted and terminated deliveries to the DLQ",
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Minute, MaxDeliver: -1, Replicas: dw.r.cfg.Replicas,
	})
	if err != nil {
		return fmt.Errorf("create dead-letter watcher: %w", store.Classify(err))
	}
	dw.cons = cons
	return nil
}

func (dw *deadWatch) run(ctx context.Context) error {
	errs := make(chan error, 1)
	cc, err := dw.cons.Consume(func(m jetstream.Msg) { dw.r.onAdvisory(ctx, m) }, store.ConsumeErrs(dw.r.log, deadWatchName, errs))
	if err != nil {
		return fmt.Errorf("start dead-letter watcher: %w", store.Classify(err))
	}
	defer cc.Stop()
	w := store.ConsumeWatch{Cons: dw.cons, Errs: errs, Closed: cc.Closed()}
	for {
		select {
		case err := <-errs:
			if err := w.Lost(ctx, err); err != nil {
				return err
			}
		case <-w.Closed:
			return w.Stopped()
		case <-ctx.Done():
			return nil
		}
	}
}

func (r *Relay) onAdvisory(ctx context.Context, m jetstream.Msg) {
	var a advisory
	if err := json.Unmarshal(m.Data(), &a); err != nil || a.StreamSeq == 0 {
		_ = m.Term()
		return
	}
	if !r.reg.Taken(a.Consumer) || !(relay.IsDeliveryStream(a.Stream) || a.Stream == relay.StreamOrders) {
		_ = m.Ack() // not a seller's or reseller's consumer (or deleted since)
		return
	}
	reason := fmt.Sprintf("max deliveries reached after %d deliveries", a.Deliveries)
	if a.Reason != "" || a.Deliveries == 0 {
		reason = "terminated: " + a.Reason
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := r.deadLetterSeq(ctx, a.Stream, a.Consumer, a.StreamSeq, int(a.Deliveries), reason); err != nil {
		r.log.Warn().Err(err).Msg("dead letter from advisory failed; will retry")
		_ = m.NakWithDelay(5 * time.Second)
		return
	}
	_ = m.Ack()
}

// finalDeliveries watches pulls handed out on their last allowed delivery.
// JetStream only notices that such a message ran out when someone pulls
// again; a reseller that died may never pull again. So when the ack wait of
// a final delivery passes without an ack, the relay dead-letters it itself
// (reconciling what the consumer holds with what was settled).
type finalDeliveries struct {
	mu   sync.Mutex
	due  map[string]finalDelivery
	wake chan struct{}
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

func newFinalDeliveries() *finalDeliveries {
	return &finalDeliveries{due: map[string]finalDelivery{}, wake: make(chan struct{}, 1)}
}

func (f *finalDeliveries) add(fd finalDelivery) {
	f.mu.Lock()
	f.due[settledKey(fd.stream, fd.reseller, fd.seq, fd.attempt)] = fd
	f.mu.Unlock()
}

// runner is the part that dead-letters final deliveries whose ack wait
// passed.
func (f *finalDeliveries) runner(r *Relay) func(context.Context) error {
	return func(ctx context.Context) error {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-t.C:
			case <-ctx.Done():
				return nil
			}
			f.deadLetterRipe(ctx, r)
		}
	}
}

func (f *finalDeliveries) deadLetterRipe(ctx context.Context, r *Relay) {
	for key, fd := range f.ripe() {
		// Progress restarted its ack timer: watch it again from there.
		if due := r.settled.progressed(fd.stream, fd.reseller, fd.seq, fd.attempt).Add(finalGrace(r.cfg.AckWait)); due.After(fd.at) {
			fd.at = due
			f.add(fd)
			continue
		}
		if !r.settled.has(fd.stream, fd.reseller, fd.seq, fd.attempt) {
			reason := fmt.Sprintf("max deliveries reached: not acked within %s of delivery %d", r.cfg.AckWait, fd.attempt)
			o := deadLetterOrigin{fd.stream, fd.reseller, fd.seq, fd.subject}
			if err := r.deadLetter(ctx, o, fd.body, int(fd.attempt), reason); err != nil {
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
