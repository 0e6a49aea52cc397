package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// JetStream writes a consumer's ack state to disk up to ~100 ms after it
// processed an ack (consumerFileStore.flushLoop). A relay killed in that
// window would redeliver what a reseller already acked. So every ack request
// is first written as a receipt to the RECEIPTS stream (fsynced like any
// event), and after a restart the relay filters out deliveries whose receipt
// it finds: nothing a reseller acked comes back.

const (
	// StreamReceipts journals what resellers acked and terminated.
	StreamReceipts = "RECEIPTS"
	receiptsPrefix = "receipts"
	// receiptLookback is how far before the newest receipt the start-up
	// filter reaches: far beyond the ack state's flush delay.
	receiptLookback = 30 * time.Second
	// receiptFilterTTL is how long the start-up filter stays in force.
	receiptFilterTTL = 15 * time.Minute
)

// receipt is one ack request as journaled.
type receipt struct {
	Stream   string    `json:"stream"`
	Consumer string    `json:"consumer"`
	Acked    []uint64  `json:"acked,omitempty"`
	Termed   []uint64  `json:"termed,omitempty"`
	Reasons  []string  `json:"reasons,omitempty"`
	Time     time.Time `json:"time"`
}

func receiptSubject(stream, consumer string) string {
	return receiptsPrefix + "." + stream + "." + consumer
}

// receiptFilter holds the stream sequences, per consumer, that were acked
// or terminated just before the previous stop.
type receiptFilter struct {
	mu    sync.RWMutex
	seqs  map[string]map[uint64]struct{}
	until time.Time
}

func newReceiptFilter() *receiptFilter {
	return &receiptFilter{seqs: map[string]map[uint64]struct{}{}}
}

func (f *receiptFilter) add(rc receipt) {
	key := rc.Stream + "/" + rc.Consumer
	m := f.seqs[key]
	if m == nil {
		m = map[uint64]struct{}{}
		f.seqs[key] = m
	}
	for _, s := range rc.Acked {
		m[s] = struct{}{}
	}
	for _, s := range rc.Termed {
		m[s] = struct{}{}
	}
}

// seen reports whether seq of consumer was acked before the restart.
func (f *receiptFilter) seen(stream, consumer string, seq uint64) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if len(f.seqs) == 0 || time.Now().After(f.until) {
		return false
	}
	_, ok := f.seqs[stream+"/"+consumer][seq]
	return ok
}

// loadReceipts fills the filter from the last receipts before this start.
func (r *Relay) loadReceipts(ctx context.Context) error {
	st, err := r.js.Stream(ctx, StreamReceipts)
	if err != nil {
		return fmt.Errorf("open receipts: %w", classify(err))
	}
	last, err := st.GetLastMsgForSubject(ctx, receiptsPrefix+".>")
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read last receipt: %w", classify(err))
	}
	oc, err := r.js.OrderedConsumer(ctx, StreamReceipts, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartTimePolicy,
		OptStartTime:  ptr(last.Time.Add(-receiptLookback)),
	})
	if err != nil {
		return fmt.Errorf("read receipts: %w", classify(err))
	}
	return r.foldReceipts(ctx, oc, last.Sequence)
}

func (r *Relay) foldReceipts(ctx context.Context, oc jetstream.Consumer, lastSeq uint64) error {
	f := r.receipts
	f.mu.Lock()
	defer f.mu.Unlock()
	f.until = time.Now().Add(receiptFilterTTL)
	for {
		m, err := oc.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			return fmt.Errorf("read receipts: %w", classify(err))
		}
		var rc receipt
		if json.Unmarshal(m.Data(), &rc) == nil {
			f.add(rc)
		}
		md, err := m.Metadata()
		if err != nil || md.Sequence.Stream >= lastSeq {
			r.log.Info().Int("consumers", len(f.seqs)).Msg("receipts before restart loaded")
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// journal stores rc durably before its acks are sent.
func (r *Relay) journal(ctx context.Context, rc receipt) error {
	if len(rc.Acked) == 0 && len(rc.Termed) == 0 {
		return nil
	}
	b, err := json.Marshal(rc)
	if err != nil {
		return fmt.Errorf("encode receipt: %w", err)
	}
	if _, err := r.js.Publish(ctx, receiptSubject(rc.Stream, rc.Consumer), b); err != nil {
		return fmt.Errorf("journal receipt: %w", classify(err))
	}
	return nil
}

func ptr[T any](v T) *T { return &v }
