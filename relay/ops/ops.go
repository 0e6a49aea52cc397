package ops

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/store"
	"github.com/nats-io/nats.go/jetstream"
)

// OpsEvent is one operational event.
type OpsEvent struct {
	Type     string         `json:"type"`
	Reseller string         `json:"reseller,omitempty"`
	Time     time.Time      `json:"time"`
	Data     map[string]any `json:"data,omitempty"`
}

// OpsEvent records an operational event. It never fails the caller: the
// log has the event too.
func (r *Trail) OpsEvent(ctx context.Context, typ, reseller string, data map[string]any) {
	b, _ := json.Marshal(OpsEvent{Type: typ, Reseller: reseller, Time: time.Now().UTC(), Data: data})
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := r.js.Publish(ctx, relay.OpsPrefix+"."+typ, b); err != nil {
		r.log.Warn().Err(err).Str("ops_event", typ).Msg("operational event not stored")
	}
}

// OpsEvents returns the latest operational events, oldest first.
func (r *Trail) OpsEvents(ctx context.Context, limit int) ([]OpsEvent, error) {
	raw, err := r.Tail(ctx, relay.StreamOps, relay.OpsPrefix+".>", limit)
	if err != nil {
		return nil, err
	}
	out := make([]OpsEvent, 0, len(raw))
	for _, m := range raw {
		var e OpsEvent
		if json.Unmarshal(m.Data, &e) == nil {
			out = append(out, e)
		}
	}
	return out, nil
}

// Tail reads the last limit messages of a stream matching filter, oldest
// first.
func (r *Trail) Tail(ctx context.Context, stream, filter string, limit int) ([]*jetstream.RawStreamMsg, error) {
	st, err := r.js.Stream(ctx, stream)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", stream, store.Classify(err))
	}
	counts, err := store.SubjectCounts(ctx, st, filter)
	if err != nil {
		return nil, err
	}
	total := 0
	for _, n := range counts {
		total += int(n)
	}
	msgs, err := r.readMatching(ctx, stream, filter, total)
	if len(msgs) > limit {
		msgs = msgs[len(msgs)-limit:]
	}
	return msgs, err
}

// readMatching reads the first n messages matching filter. n comes from
// the subject counts, so no read waits for a message that is not there.
func (r *Trail) readMatching(ctx context.Context, stream, filter string, n int) ([]*jetstream.RawStreamMsg, error) {
	out := make([]*jetstream.RawStreamMsg, 0, n)
	if n == 0 {
		return out, nil
	}
	oc, err := r.js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", stream, store.Classify(err))
	}
	err = store.Scan(ctx, oc, 5*time.Second, func(m jetstream.Msg, md *jetstream.MsgMetadata) bool {
		out = append(out, &jetstream.RawStreamMsg{Subject: m.Subject(), Sequence: md.Sequence.Stream,
			Header: m.Headers(), Data: m.Data(), Time: md.Timestamp})
		return len(out) < n && md.NumPending > 0
	})
	if err != nil {
		return out, fmt.Errorf("read %s: %w", stream, err)
	}
	return out, nil
}
