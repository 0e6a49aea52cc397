package ops

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/ingest"
	"github.com/billrelay/billrelay/relay/route"
	"github.com/billrelay/billrelay/relay/store"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ReplayRequest chooses which of a reseller's events to deliver again.
// Empty fields do not filter: an empty request replays (backfills) the
// whole history of the reseller's accounts.
type ReplayRequest struct {
	Since   *time.Time `json:"since,omitempty"`
	Until   *time.Time `json:"until,omitempty"`
	FromSeq uint64     `json:"from_seq,omitempty"`
	Items   []string   `json:"items,omitempty"`
	Types   []string   `json:"types,omitempty"`
	DryRun  bool       `json:"dry_run,omitempty"`
}

// ReplayResult counts what matched and what was sent.
type ReplayResult struct {
	Matched  int `json:"matched"`
	Replayed int `json:"replayed"`
}

// Progress is told how far a long operation got.
type Progress func(done int)

// maxReplayItems bounds the item filter of one replay.
const maxReplayItems = 1000

func (q ReplayRequest) check() error {
	ve := &events.ValidationError{}
	if q.Since != nil && q.Until != nil && q.Until.Before(*q.Since) {
		ve.Add("until", "is before since")
	}
	if q.Since != nil && q.FromSeq > 0 {
		ve.Add("from_seq", "give since or from_seq, not both")
	}
	if len(q.Items) > maxReplayItems {
		ve.Add("items", "at most %d items per replay", maxReplayItems)
	}
	for i, it := range q.Items {
		if p := events.TokenProblem(it); p != "" {
			ve.Add(fmt.Sprintf("items[%d]", i), "%s", p)
		}
	}
	for i, t := range q.Types {
		if !events.KnownType(t) {
			ve.Add(fmt.Sprintf("types[%d]", i), "unknown event type %q", t)
		}
	}
	return ve.Err()
}

// Replay delivers a reseller's matching events again, marked as replays,
// through its own consumer (so pull, webhook and agent all see them)
// without moving or resetting that consumer and without touching any other
// reseller. Events of items owned by another reseller are not replayed to
// it. A dry run only counts.
func (r *Ops) Replay(ctx context.Context, reseller string, q ReplayRequest, progress Progress) (ReplayResult, error) {
	rs, err := r.dir.Reseller(reseller)
	if err != nil {
		return ReplayResult{}, err
	}
	if err := q.check(); err != nil {
		return ReplayResult{}, err
	}
	oc, last, err := r.replayConsumer(ctx, rs, q)
	if err != nil || last == 0 {
		return ReplayResult{}, err
	}
	res, err := r.replayScan(ctx, rs, q, oc, last, progress)
	if err == nil && !q.DryRun {
		r.trail.Note(ctx, relay.AuditEntry{Action: "replay", Target: reseller, Detail: map[string]any{"request": q, "result": res}})
	}
	return res, err
}

// replayConsumer opens an ordered consumer over the reseller's accounts
// (or its chosen items) and says which sequence ends the scan: the stream's
// last at the start, so a replay never chases new events.
func (r *Ops) replayConsumer(ctx context.Context, rs relay.Reseller, q ReplayRequest) (jetstream.Consumer, uint64, error) {
	st, err := r.js.Stream(ctx, relay.StreamEvents)
	if err != nil {
		return nil, 0, store.Classify(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil, 0, store.Classify(err)
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: replaySubjects(rs, q.Items), DeliverPolicy: jetstream.DeliverAllPolicy}
	switch {
	case q.FromSeq > 0:
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, q.FromSeq
	case q.Since != nil:
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, q.Since
	}
	oc, err := r.js.OrderedConsumer(ctx, relay.StreamEvents, cfg)
	if err != nil {
		return nil, 0, fmt.Errorf("open replay: %w", store.Classify(err))
	}
	return oc, info.State.LastSeq, nil
}

func replaySubjects(rs relay.Reseller, items []string) []string {
	var out []string
	for _, a := range rs.Accounts {
		if len(items) == 0 {
			out = append(out, events.AccountFilter(rs.Seller, a))
			continue
		}
		for _, it := range items {
			out = append(out, events.EventSubject(events.Key{Seller: rs.Seller, Account: a, Item: it}))
		}
	}
	return out
}

func (r *Ops) replayScan(ctx context.Context, rs relay.Reseller, q ReplayRequest, oc jetstream.Consumer, last uint64, progress Progress) (ReplayResult, error) {
	var res ReplayResult
	var batch []*nats.Msg
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	flush := func() error {
		if len(batch) == 0 || q.DryRun {
			return nil
		}
		if _, err := r.w.Ordered(ctx, batch); err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		res.Replayed += len(batch)
		batch = batch[:0]
		if progress != nil {
			progress(res.Replayed)
		}
		return nil
	}
	var failed error
	err := store.Scan(ctx, oc, 2*time.Second, func(m jetstream.Msg, md *jetstream.MsgMetadata) bool {
		if md.Sequence.Stream > last || (q.Until != nil && md.Timestamp.After(*q.Until)) {
			return false
		}
		if r.replayMatches(rs, q, m) {
			res.Matched++
			batch = append(batch, replayCopy(rs.ID, run, m, md))
		}
		if len(batch) >= store.MaxAtomicBatch {
			if failed = flush(); failed != nil {
				return false
			}
		}
		return md.Sequence.Stream < last && md.NumPending > 0
	})
	if failed != nil {
		return res, failed
	}
	if err != nil && !errors.Is(err, store.ErrScanIdle) { // idle: nothing more matches
		return res, fmt.Errorf("replay: read events: %w", err)
	}
	if q.DryRun && progress != nil {
		progress(res.Matched)
	}
	if err := flush(); err != nil {
		return res, err
	}
	if res.Replayed > 0 {
		return res, r.fence(ctx)
	}
	return res, nil
}

func (r *Ops) replayMatches(rs relay.Reseller, q ReplayRequest, m jetstream.Msg) bool {
	k, err := events.ParseEventSubject(m.Subject())
	if err != nil || !slices.Contains(r.owners.Recipients(k), rs.ID) {
		return false
	}
	return len(q.Types) == 0 || slices.Contains(q.Types, m.Headers().Get(relay.HeaderType))
}

// replayCopy is the reseller's copy of a replayed event, marked as such.
func replayCopy(reseller, run string, m jetstream.Msg, md *jetstream.MsgMetadata) *nats.Msg {
	k, _ := events.ParseEventSubject(m.Subject())
	c := route.CopyFor(reseller, k, ingest.Record{Header: m.Headers(), Body: m.Data()}, md.Sequence.Stream, md.Timestamp, nil)
	c.Header.Set(jetstream.MsgIDHeader, "replay:"+run+":"+reseller+":"+strconv.FormatUint(md.Sequence.Stream, 10))
	c.Header.Set(relay.HeaderReplay, "true")
	return c
}
