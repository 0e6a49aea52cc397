package store

import (
	"context"
	"time"

	"github.com/billrelay/billrelay/relay"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"
)

// StoreAttempt bounds one store of the router's output: a request lost
// with a dying server is repeated (message ids keep one copy) instead of
// holding routing up.
const StoreAttempt = 5 * time.Second

// Writer stores groups of messages in order: the router's output, and the
// copies journal, replay and reconciliation write.
type Writer struct {
	JS  jetstream.JetStream
	Cfg relay.Config
}

func stripBatchHeaders(msgs []*nats.Msg) {
	for _, m := range msgs {
		m.Header.Del(jetstreamext.BatchIDHeader)
		m.Header.Del(jetstreamext.BatchSeqHeader)
		m.Header.Del(jetstreamext.BatchCommitHeader)
	}
}

// storeWindow bounds one caller's unanswered publishes, so that
// concurrent callers stay below the connection's async limit (4000 by
// default; beyond it publishing stalls and fails).
const storeWindow = 256

// Ordered stores msgs, all for one stream, as one atomic batch (one
// fsync, all or nothing), or one by one when the batch repeats a stored
// message id (the server refuses such a batch whole) or the stream is
// async-persisted behind the fence, and returns each one's sequence.
func (w Writer) Ordered(ctx context.Context, msgs []*nats.Msg) ([]uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, StoreAttempt)
	defer cancel()
	if len(msgs) > 1 && !LazySubject(w.Cfg, msgs[0].Subject) {
		ack, err := jetstreamext.PublishMsgBatch(ctx, w.JS, msgs, jetstreamext.BatchFlowControl{AckFirst: false})
		if err == nil {
			seqs := make([]uint64, len(msgs))
			for i := range seqs {
				seqs[i] = ack.Sequence - uint64(len(msgs)-1-i)
			}
			return seqs, nil
		}
		if APICode(err) != CodeBatchDuplicateID {
			return nil, Classify(err)
		}
		stripBatchHeaders(msgs)
	}
	return w.each(ctx, msgs)
}

// each publishes msgs pipelined in order, with at most storeWindow
// unanswered at any time: each new publish waits only for the answer to
// the one storeWindow places before it, so the pipe stays full.
func (w Writer) each(ctx context.Context, msgs []*nats.Msg) ([]uint64, error) {
	seqs := make([]uint64, len(msgs))
	futures := make([]jetstream.PubAckFuture, len(msgs))
	settle := func(i int) error {
		ack, err := AwaitAck(ctx, futures[i])
		if err != nil {
			return err
		}
		seqs[i] = ack.Sequence
		return nil
	}
	for i, m := range msgs {
		if i >= storeWindow {
			if err := settle(i - storeWindow); err != nil {
				return nil, err
			}
		}
		f, err := w.JS.PublishMsgAsync(m)
		if err != nil {
			return nil, Classify(err)
		}
		futures[i] = f
	}
	for i := max(0, len(msgs)-storeWindow); i < len(msgs); i++ {
		if err := settle(i); err != nil {
			return nil, err
		}
	}
	return seqs, nil
}

// MaxAtomicBatch is the server's limit on messages in one atomic batch.
const MaxAtomicBatch = 1000

// RelayGroup is the priority group of consumers that one relay at a time
// must serve (the router, webhook pushers, taps): pinned by JetStream, so
// that several relays on a cluster never route or push the same stream
// twice or out of order, with no leader election of the relay's own.
const RelayGroup = "relay"

// AdvisorySubjects are the advisories ADVISORIES captures: both kinds, for
// every stream (the delivery streams are as many as the shards; the
// dead-letter watcher keeps those of the streams the relay delivers from).
func AdvisorySubjects() []string {
	return []string{relay.AdvisoryMaxDeliv + "*.*", relay.AdvisoryTerm + "*.*"}
}
