package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/store"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Drift is one item whose state as a reseller applied it differs from the
// seller's current one.
type Drift struct {
	Seller         string `json:"seller"`
	Account        string `json:"account"`
	Item           string `json:"item"`
	SellerState    string `json:"seller_state"`
	SellerEventID  string `json:"seller_event_id"`
	SellerSeq      uint64 `json:"seller_seq"`
	AppliedState   string `json:"applied_state,omitempty"`
	AppliedEventID string `json:"applied_event_id,omitempty"`
	// Receipt is what the reseller did with its last event of the item:
	// "applied", "rejected", or "" when it never settled one.
	Receipt string `json:"receipt,omitempty"`
	Fixed   bool   `json:"fixed,omitempty"`
}

// ReconcileResult lists the drifted items of one reseller.
type ReconcileResult struct {
	Checked int     `json:"checked"`
	Items   []Drift `json:"items"`
	Fixed   int     `json:"fixed"`
}

// Reconcile compares, item by item, the seller's current state with what
// the reseller applied (its receipts). With fix, each drifted item gets a
// reconciliation.snapshot carrying the current state, sent to that
// reseller alone.
func (r *Ops) Reconcile(ctx context.Context, reseller string, fix bool, progress Progress) (ReconcileResult, error) {
	rs, err := r.dir.Reseller(reseller)
	if err != nil {
		return ReconcileResult{}, err
	}
	current, err := r.lastPerSubject(ctx, relay.StreamEvents, replaySubjects(rs, nil))
	if err != nil {
		return ReconcileResult{}, err
	}
	prefix := relay.ReceiptsPrefix + "." + rs.DeliveryStream() + "." + rs.ID + "."
	applied, err := r.lastPerSubject(ctx, relay.StreamReceipts, []string{prefix + ">"})
	if err != nil {
		return ReconcileResult{}, err
	}
	res := ReconcileResult{Items: []Drift{}}
	for _, m := range current {
		k, _ := events.ParseEventSubject(m.Subject)
		state := m.Header.Get(relay.HeaderState)
		if state == "" || !slices.Contains(r.owners.Recipients(k), rs.ID) {
			continue
		}
		res.Checked++
		if d, drifted := driftOf(k, m, applied[prefix+k.Seller+"."+k.Account+"."+k.Item]); drifted {
			res.Items = append(res.Items, d)
		}
	}
	if fix {
		err = r.fixDrift(ctx, rs, &res, progress)
	}
	return res, err
}

func driftOf(k events.Key, m *jetstream.RawStreamMsg, rcMsg *jetstream.RawStreamMsg) (Drift, bool) {
	d := Drift{Seller: k.Seller, Account: k.Account, Item: k.Item, SellerState: m.Header.Get(relay.HeaderState),
		SellerEventID: m.Header.Get(relay.HeaderEventID), SellerSeq: m.Sequence}
	if rcMsg == nil {
		return d, true
	}
	var rc relay.Receipt
	_ = json.Unmarshal(rcMsg.Data, &rc)
	d.AppliedEventID, d.Receipt = rc.EventID, rc.Action
	if rc.Action == relay.ActionApplied {
		d.AppliedState = rc.State
	}
	return d, rc.Action != relay.ActionApplied || rc.State != d.SellerState
}

// lastPerSubject reads the last message of every subject matching
// filters, keyed by subject.
func (r *Ops) lastPerSubject(ctx context.Context, stream string, filters []string) (map[string]*jetstream.RawStreamMsg, error) {
	out := map[string]*jetstream.RawStreamMsg{}
	st, err := r.js.Stream(ctx, stream)
	if err != nil {
		return nil, store.Classify(err)
	}
	n := 0
	for _, f := range filters {
		counts, err := store.SubjectCounts(ctx, st, f)
		if err != nil {
			return nil, err
		}
		n += len(counts)
	}
	if n == 0 {
		return out, nil
	}
	oc, err := r.js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: filters, DeliverPolicy: jetstream.DeliverLastPerSubjectPolicy})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", stream, store.Classify(err))
	}
	err = store.Scan(ctx, oc, 5*time.Second, func(m jetstream.Msg, md *jetstream.MsgMetadata) bool {
		out[m.Subject()] = &jetstream.RawStreamMsg{Subject: m.Subject(), Sequence: md.Sequence.Stream, Header: m.Headers(), Data: m.Data(), Time: md.Timestamp}
		return len(out) < n && md.NumPending > 0
	})
	if err != nil && !errors.Is(err, store.ErrScanIdle) {
		return nil, fmt.Errorf("read %s: %w", stream, err)
	}
	return out, nil
}

// fixDrift sends each drifted item a snapshot of its current state.
func (r *Ops) fixDrift(ctx context.Context, rs relay.Reseller, res *ReconcileResult, progress Progress) error {
	var batch []*nats.Msg
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if _, err := r.w.Ordered(ctx, batch); err != nil {
			return fmt.Errorf("send snapshots: %w", err)
		}
		res.Fixed += len(batch)
		batch = batch[:0]
		if progress != nil {
			progress(res.Fixed)
		}
		return nil
	}
	for i := range res.Items {
		m, err := snapshotMsg(rs.ID, res.Items[i])
		if err != nil {
			return err
		}
		batch = append(batch, m)
		res.Items[i].Fixed = true
		if len(batch) == store.MaxAtomicBatch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	if res.Fixed > 0 {
		if err := r.fence(ctx); err != nil {
			return err
		}
		r.trail.Note(ctx, relay.AuditEntry{Action: "reconcile.fix", Target: rs.ID, Detail: map[string]any{"fixed": res.Fixed}})
	}
	return nil
}

// snapshotMsg is a reconciliation.snapshot for one reseller. Its id comes
// from the seller event it mirrors, so fixing twice sends it once.
func snapshotMsg(reseller string, d Drift) (*nats.Msg, error) {
	k := events.Key{Seller: d.Seller, Account: d.Account, Item: d.Item}
	kind := events.KindService
	if events.KindOrder.Valid(d.SellerState) && !events.KindService.Valid(d.SellerState) {
		kind = events.KindOrder
	}
	data, _ := json.Marshal(map[string]any{"state": d.SellerState, "kind": kind,
		"seller_event_id": d.SellerEventID, "seller_seq": d.SellerSeq})
	e := events.Event{SpecVersion: events.SpecVersion, ID: events.DeriveID("snap", reseller, d.SellerEventID),
		Source: "/billrelay/reconcile", Type: events.TypeReconciliationSnapshot, Time: time.Now().UTC(),
		Seller: d.Seller, Account: d.Account, Item: d.Item, DataContentType: events.ContentTypeJSON, Data: data}
	if err := e.Validate(); err != nil {
		return nil, fmt.Errorf("snapshot of %s: %w", d.Item, err)
	}
	body, _ := json.Marshal(e)
	m := nats.NewMsg(events.DeliverSubject(reseller, k))
	m.Data = body
	m.Header.Set(jetstream.MsgIDHeader, reseller+":"+e.ID)
	m.Header.Set(relay.HeaderEventID, e.ID)
	m.Header.Set(relay.HeaderContentType, relay.ContentTypeCE)
	m.Header.Set(relay.HeaderType, e.Type)
	m.Header.Set(relay.HeaderState, d.SellerState)
	m.Header.Set(relay.HeaderKind, string(kind))
	m.Header.Set(relay.HeaderTime, e.Time.Format(time.RFC3339Nano))
	m.Header.Set(relay.HeaderStored, strconv.FormatInt(e.Time.UnixNano(), 10))
	return m, nil
}
