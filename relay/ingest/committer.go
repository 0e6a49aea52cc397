package ingest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/store"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// commitReq is one caller's records waiting for their commit.
type commitReq struct {
	recs []Record
	done chan error
}

func (q commitReq) ids() []string {
	ids := make([]string, len(q.recs))
	for i, rc := range q.recs {
		ids[i] = rc.MsgID
	}
	return ids
}

// The committer gathers whatever requests are waiting into one envelope
// and stores it with one publish, so one fsync covers them all. There is
// no linger timer and one commit in flight: the commit being written is the
// timer, and groups grow with the load by themselves
// (research/perf-groupcommit.md).
func (r *Ingest) RunCommitter(ctx context.Context) error {
	for {
		var first commitReq
		select {
		case first = <-r.commits:
		case <-ctx.Done():
			r.failQueued()
			return nil
		}
		group := r.gather(first)
		err := r.storeEnvelope(ctx, group)
		for _, q := range group {
			// The outcome settles the claims here, not in the caller,
			// who may have given up waiting.
			r.dedupe.settle(q.ids(), err == nil)
			q.done <- err
		}
	}
}

// gather takes what else is queued now, up to the envelope's size.
func (r *Ingest) gather(first commitReq) []commitReq {
	group := []commitReq{first}
	size := envelopeSize(first.recs)
	for size < relay.MaxEnvelope/2 {
		select {
		case q := <-r.commits:
			group = append(group, q)
			size += envelopeSize(q.recs)
		default:
			return group
		}
	}
	return group
}

func envelopeSize(recs []Record) int {
	n := 0
	for _, rc := range recs {
		n += rc.size()
	}
	return n
}

// storeEnvelope publishes one envelope. An attempt that gets no answer
// (a NATS server died with the request, a stream leader is being elected)
// is repeated after commitAttempt with the same message id, so that
// INGEST keeps one copy if both attempts arrived, until CommitTimeout.
func (r *Ingest) storeEnvelope(ctx context.Context, group []commitReq) error {
	var recs []Record
	for _, q := range group {
		recs = append(recs, q.recs...)
	}
	ctx, cancel := context.WithTimeout(ctx, relay.CommitTimeout)
	defer cancel()
	m := nats.NewMsg(relay.SubjectIngest)
	m.Data = EncodeEnvelope(recs)
	m.Header.Set(jetstream.MsgIDHeader, newEnvelopeID())
	for {
		attempt, done := context.WithTimeout(ctx, commitAttempt)
		_, err := r.js.PublishMsg(attempt, m)
		done()
		if err == nil {
			break
		}
		if ctx.Err() != nil || !errors.Is(store.Classify(err), events.ErrUnavailable) {
			return fmt.Errorf("commit %d events: %w", len(recs), store.Classify(err))
		}
		r.log.Warn().Err(err).Int("events", len(recs)).Msg("commit not answered; trying again")
	}
	r.metrics.Commits.Inc()
	r.metrics.CommitSize.Observe(float64(len(recs)))
	return nil
}

const (
	commitAttempt = 3 * time.Second
)

func newEnvelopeID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (r *Ingest) failQueued() {
	for {
		select {
		case q := <-r.commits:
			r.dedupe.settle(q.ids(), false)
			q.done <- fmt.Errorf("%w: the relay is stopping", events.ErrUnavailable)
		default:
			return
		}
	}
}

// commit stores recs durably (in the envelope of the next group) and
// returns when they are, or when ctx ends (then the outcome is unknown to
// the caller, who answers 503: a retry is a duplicate if it was stored).
func (r *Ingest) commit(ctx context.Context, recs []Record) error {
	q := commitReq{recs: recs, done: make(chan error, 1)}
	select {
	case r.commits <- q:
	case <-ctx.Done():
		return fmt.Errorf("%w: commit queue full", events.ErrUnavailable)
	}
	select {
	case err := <-q.done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", events.ErrUnavailable, ctx.Err())
	}
}
