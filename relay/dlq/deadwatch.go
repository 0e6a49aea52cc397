package dlq

import (
	"context"
	"encoding/json"
	"fmt"
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

// Watch makes the advisory watcher.
func (r *DLQ) Watch() *Watcher { return &Watcher{r: r} }

// Watcher is the part that turns captured advisories into dead letters.
type Watcher struct {
	r    *DLQ
	cons jetstream.Consumer
}

func (dw *Watcher) Open(ctx context.Context) error {
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

func (dw *Watcher) Run(ctx context.Context) error {
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

func (r *DLQ) onAdvisory(ctx context.Context, m jetstream.Msg) {
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
