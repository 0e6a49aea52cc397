package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Publish stores evs for principal p and returns one result per event, in
// order. A seller's events go to EVENTS (and from there to its resellers);
// a reseller's orders go to ORDERS, for its seller. Publish returns only
// after JetStream stored every event (fsynced, under the default sync
// policy). On error nothing of the call is stored, except when ctx ends
// while its commit group is being written: then the outcome is unknown,
// and a retry answers "duplicate" for what was stored.
func (r *Ingest) Publish(ctx context.Context, p relay.Principal, evs []events.Event) ([]relay.Result, error) {
	if err := r.Authorize(p, evs); err != nil {
		return nil, err
	}
	if p.Role == relay.RoleReseller {
		if err := r.limitOrders(ctx, p.ID, evs); err != nil {
			return nil, err
		}
	}
	recs := make([]Record, len(evs))
	for i := range evs {
		m, err := r.EventMsg(p, &evs[i])
		if err != nil {
			return nil, err
		}
		recs[i] = RecordOf(m)
	}
	res, err := r.Store(ctx, recs)
	if err != nil {
		return nil, err
	}
	if p.Role == relay.RoleReseller {
		if err := r.learnOwners(ctx, p.ID, evs, res); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// Store commits the records not yet stored and says, per record, whether
// it was accepted or a duplicate: decided before the write, so that a
// duplicate never sinks the records committed with it.
func (r *Ingest) Store(ctx context.Context, recs []Record) ([]relay.Result, error) {
	ids := make([]string, len(recs))
	for i, rc := range recs {
		ids[i] = rc.MsgID
	}
	owned, err := r.dedupe.claim(ctx, ids)
	if err != nil {
		return nil, err
	}
	var fresh []Record
	res := make([]relay.Result, len(recs))
	for i, rc := range recs {
		res[i] = relay.Result{ID: rc.Header.Get(relay.HeaderEventID), Status: relay.StatusDuplicate}
		if owned[i] {
			res[i].Status = relay.StatusAccepted
			fresh = append(fresh, rc)
		}
	}
	if len(fresh) > 0 {
		if err := r.commit(ctx, fresh); err != nil {
			return nil, err
		}
	}
	r.countIngest(res)
	return res, nil
}

func (r *Ingest) countIngest(res []relay.Result) {
	for _, x := range res {
		if x.Status == relay.StatusDuplicate {
			r.metrics.IngestDuplicate.Inc()
		} else {
			r.metrics.IngestAccepted.Inc()
		}
	}
}

// learnOwners records the reseller that placed an order as its item's
// owner.
func (r *Ingest) learnOwners(ctx context.Context, reseller string, evs []events.Event, res []relay.Result) error {
	for i, e := range evs {
		if e.Type == events.TypeOrderPlaced && res[i].Status == relay.StatusAccepted {
			if err := r.dir.LearnOwner(ctx, e.Key(), reseller); err != nil {
				return err
			}
		}
	}
	return nil
}

// Authorize checks that p may publish every event: a seller only for
// itself and never an ops.override (those come through the audited
// overrides API); a reseller only orders, for its own seller, on its own
// accounts, for items no other reseller owns. Fields left empty are not
// judged here: validation names them.
func (r *Ingest) Authorize(p relay.Principal, evs []events.Event) error {
	for i, e := range evs {
		field := "[" + strconv.Itoa(i) + "]"
		var err error
		if p.Role == relay.RoleReseller {
			err = r.authorizeOrder(p.ID, field, e)
		} else {
			err = authorizeSellerEvent(p.ID, field, e)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func authorizeSellerEvent(seller, field string, e events.Event) error {
	switch {
	case e.Seller != "" && e.Seller != seller:
		return events.Forbidden(field+".seller", "this token publishes for seller %q, not %q", seller, e.Seller)
	case e.Type == events.TypeOpsOverride:
		return events.Forbidden(field+".type", "ops.override events are published by an admin through POST /v1/overrides")
	}
	return nil
}

func (r *Ingest) authorizeOrder(reseller, field string, e events.Event) error {
	rs, err := r.dir.Reseller(reseller)
	if err != nil {
		return fmt.Errorf("%w: reseller %q is not registered", events.ErrUnauthorized, reseller)
	}
	switch {
	case e.Type != "" && !events.IsUpstream(e.Type):
		return events.Forbidden(field+".type", "a reseller token may publish only %v; %q comes from sellers", events.UpstreamTypes, e.Type)
	case e.Seller != "" && e.Seller != rs.Seller:
		return events.Forbidden(field+".seller", "reseller %q orders from seller %q, not %q", reseller, rs.Seller, e.Seller)
	case e.Account != "" && !slices.Contains(rs.Accounts, e.Account):
		return events.Forbidden(field+".account", "account %q is not one of reseller %q's accounts %v", e.Account, reseller, rs.Accounts)
	}
	if owner, ok := r.dir.Owner(e.Key()); ok && owner != reseller && e.Item != "" {
		return events.Forbidden(field+".item", "item %q is owned by another reseller", e.Item)
	}
	return nil
}

// EventMsg is the stored form of an event: its JSON, its message id
// (scoped by seller, see msgid.go), and headers that spare the router and the receivers a JSON decode.
func (r *Ingest) EventMsg(p relay.Principal, e *events.Event) (*nats.Msg, error) {
	body, err := e.AppendJSON(make([]byte, 0, 512))
	if err != nil {
		return nil, fmt.Errorf("encode event %q: %w", e.ID, err)
	}
	subject, msgID := events.EventSubject(e.Key()), eventMsgID(e.Seller, e.ID)
	if p.Role == relay.RoleReseller {
		subject, msgID = events.OrderSubject(p.ID, e.Key()), orderMsgID(e.Seller, p.ID, e.ID)
	}
	m := nats.NewMsg(subject)
	m.Data = body
	m.Header.Set(jetstream.MsgIDHeader, msgID)
	m.Header.Set(relay.HeaderEventID, e.ID)
	m.Header.Set(relay.HeaderContentType, relay.ContentTypeCE)
	m.Header.Set(relay.HeaderType, e.Type)
	m.Header.Set(relay.HeaderTime, e.Time.UTC().Format(time.RFC3339Nano))
	if d, err := events.ParseData(e.Data); err == nil {
		SetDataHeaders(m.Header, e.Type, d)
	}
	if seq, ok := e.Extensions["sequence"]; ok {
		var s string
		if json.Unmarshal(seq, &s) == nil && s != "" {
			m.Header.Set(relay.HeaderSequence, s)
		}
	}
	return m, nil
}

// SetDataHeaders copies what the transition guard reads from data: the
// state and its kind, what an override stands for, and the order item
// (only when it is a valid token: it comes from the seller).
func SetDataHeaders(h nats.Header, typ string, d events.Data) {
	if d.State != "" {
		h.Set(relay.HeaderState, d.State)
		h.Set(relay.HeaderKind, string(d.Kind(typ)))
	}
	if typ == events.TypeOpsOverride && d.Applies != "" {
		h.Set(relay.HeaderApplies, d.Applies)
	}
	if d.OrderItem != "" && events.TokenProblem(d.OrderItem) == "" {
		h.Set(relay.HeaderOrderItem, d.OrderItem)
	}
}
