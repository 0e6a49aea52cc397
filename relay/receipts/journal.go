package receipts

import (
	"context"
	"fmt"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay/store"
	"github.com/nats-io/nats.go"
)

// journalReq is one caller's receipts waiting for their batch.
type journalReq struct {
	msgs []*nats.Msg
	done chan error
}

// The journaler gathers the receipts of concurrent acks into one atomic
// batch: one fsync for many ack requests, and one batch in flight, far
// below the server's 50 in-flight batches per stream, beyond which it
// abandons batches as incomplete.
// RunJournaler stores the receipts acks wait for.
func (r *Receipts) RunJournaler(ctx context.Context) error {
	var carry *journalReq
	for {
		first, ok := r.nextJournal(ctx, carry)
		if !ok {
			r.failJournals()
			return nil
		}
		var group []journalReq
		group, carry = r.gatherJournals(first)
		var msgs []*nats.Msg
		for _, q := range group {
			msgs = append(msgs, q.msgs...)
		}
		_, err := r.w.Ordered(ctx, msgs)
		for _, q := range group {
			q.done <- err
		}
	}
}

func (r *Receipts) nextJournal(ctx context.Context, carry *journalReq) (journalReq, bool) {
	if carry != nil {
		return *carry, true
	}
	select {
	case q := <-r.journals:
		return q, true
	case <-ctx.Done():
		return journalReq{}, false
	}
}

// gatherJournals takes what else is queued now, up to one batch; a request
// that does not fit is carried to the next one.
func (r *Receipts) gatherJournals(first journalReq) ([]journalReq, *journalReq) {
	group, n := []journalReq{first}, len(first.msgs)
	for {
		select {
		case q := <-r.journals:
			if n+len(q.msgs) > store.MaxAtomicBatch {
				return group, &q
			}
			group, n = append(group, q), n+len(q.msgs)
		default:
			return group, nil
		}
	}
}

func (r *Receipts) failJournals() {
	for {
		select {
		case q := <-r.journals:
			q.done <- fmt.Errorf("%w: the relay is stopping", events.ErrUnavailable)
		default:
			return
		}
	}
}

// journalChunk hands at most store.MaxAtomicBatch receipts to the journaler and
// waits for their batch.
func (r *Receipts) journalChunk(ctx context.Context, msgs []*nats.Msg) error {
	q := journalReq{msgs: msgs, done: make(chan error, 1)}
	select {
	case r.journals <- q:
	case <-ctx.Done():
		return ctx.Err()
	case <-r.stopping:
		return fmt.Errorf("%w: the relay is stopping", events.ErrUnavailable)
	}
	select {
	case err := <-q.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
