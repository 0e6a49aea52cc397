package relay

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/billrelay/billrelay/events"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"
)

// Headers the relay sets on stored messages. Consumers that read JetStream
// directly (the agent, native NATS resellers) rely on them; all other
// headers (such as the Nats-Batch-* ones of atomic batches) are to be
// ignored.
const (
	HeaderContentType = "Content-Type"
	HeaderType        = "Relay-Type"
	HeaderEventSeq    = "Relay-Event-Seq"
	HeaderReplay      = "Relay-Replay"
	HeaderRedriven    = "Relay-Redriven"
	HeaderEventID     = "Relay-Event-Id"
	ContentTypeCE     = "application/cloudevents+json"
)

// Status is the outcome of one published event.
type Status string

const (
	StatusAccepted  Status = "accepted"
	StatusDuplicate Status = "duplicate"
)

// Result is the outcome for one event of a publish call.
type Result struct {
	ID     string `json:"id"`
	Status Status `json:"status"`
}

// Publish stores evs for principal p and returns one result per event, in
// order. It returns only after JetStream stored every event (fsynced, under
// the default sync policy); on error nothing of the call is stored, except
// in the rare case of a batch holding an already stored id that then fails
// half way, where a retry answers "duplicate" for the stored part.
func (r *Relay) Publish(ctx context.Context, p Principal, evs []events.Event) ([]Result, error) {
	if err := Authorize(p, evs); err != nil {
		return nil, err
	}
	msgs := make([]*nats.Msg, len(evs))
	for i := range evs {
		m, err := eventMsg(&evs[i])
		if err != nil {
			return nil, err
		}
		msgs[i] = m
	}
	return r.publishAtomic(ctx, msgs)
}

// Authorize checks that p may publish every event: a seller only for
// itself and never an ops.override (those come through the audited
// overrides API); a reseller only orders. Fields left empty are not judged
// here: validation names them.
func Authorize(p Principal, evs []events.Event) error {
	for i, e := range evs {
		field := "[" + strconv.Itoa(i) + "]"
		switch {
		case p.Role == RoleReseller && e.Type != "":
			return events.Forbidden(field+".type", "a reseller token may publish only %v; %q comes from sellers", events.UpstreamTypes, e.Type)
		case p.Role == RoleSeller && e.Seller != "" && e.Seller != p.ID:
			return events.Forbidden(field+".seller", "this token publishes for seller %q, not %q", p.ID, e.Seller)
		case e.Type == events.TypeOpsOverride:
			return events.Forbidden(field+".type", "ops.override events are published by an admin through POST /v1/overrides")
		}
	}
	return nil
}

func eventMsg(e *events.Event) (*nats.Msg, error) {
	body, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode event %q: %w", e.ID, err)
	}
	m := nats.NewMsg(events.EventSubject(e.Key()))
	m.Data = body
	m.Header.Set(jetstream.MsgIDHeader, e.ID)
	m.Header.Set(HeaderContentType, ContentTypeCE)
	m.Header.Set(HeaderType, e.Type)
	return m, nil
}

// publishAtomic stores msgs as one atomic batch: one fsync for all of them,
// and all or nothing. A batch holding an id that is already stored is
// refused whole by the server; then each event is published on its own so
// that it gets its own answer.
func (r *Relay) publishAtomic(ctx context.Context, msgs []*nats.Msg) ([]Result, error) {
	if len(msgs) == 1 {
		return r.publishEach(ctx, msgs)
	}
	_, err := jetstreamext.PublishMsgBatch(ctx, r.js, msgs, jetstreamext.BatchFlowControl{AckFirst: false})
	if err == nil {
		return resultsAll(msgs, StatusAccepted), nil
	}
	if apiCode(err) != codeBatchDuplicateID {
		return nil, fmt.Errorf("publish batch of %d: %w", len(msgs), classify(err))
	}
	for _, m := range msgs {
		m.Header.Del(jetstreamext.BatchIDHeader)
		m.Header.Del(jetstreamext.BatchSeqHeader)
		m.Header.Del(jetstreamext.BatchCommitHeader)
	}
	return r.publishEach(ctx, msgs)
}

// publishEach stores msgs one by one, pipelined and in order, and reports
// which were duplicates.
func (r *Relay) publishEach(ctx context.Context, msgs []*nats.Msg) ([]Result, error) {
	futures := make([]jetstream.PubAckFuture, len(msgs))
	for i, m := range msgs {
		f, err := r.js.PublishMsgAsync(m)
		if err != nil {
			return nil, fmt.Errorf("publish event %q: %w", m.Header.Get(jetstream.MsgIDHeader), classify(err))
		}
		futures[i] = f
	}
	out := make([]Result, len(msgs))
	for i, f := range futures {
		ack, err := awaitAck(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("publish event %q: %w", msgs[i].Header.Get(jetstream.MsgIDHeader), err)
		}
		out[i] = Result{ID: msgs[i].Header.Get(jetstream.MsgIDHeader), Status: StatusAccepted}
		if ack.Duplicate {
			out[i].Status = StatusDuplicate
		}
	}
	return out, nil
}

func awaitAck(ctx context.Context, f jetstream.PubAckFuture) (*jetstream.PubAck, error) {
	select {
	case ack := <-f.Ok():
		return ack, nil
	case err := <-f.Err():
		return nil, classify(err)
	case <-ctx.Done():
		return nil, classify(ctx.Err())
	}
}

func resultsAll(msgs []*nats.Msg, s Status) []Result {
	out := make([]Result, len(msgs))
	for i, m := range msgs {
		out[i] = Result{ID: m.Header.Get(jetstream.MsgIDHeader), Status: s}
	}
	return out
}
