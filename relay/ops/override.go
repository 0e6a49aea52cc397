package ops

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/ingest"
)

// Override is a manual event an admin injects: a CloudBlue event given as
// its name and parameter string ("Creation Completed",
// "GateID=4;IssuedSuccessfully=1;…"), or a catalog event. It is stored as
// an ops.override event, routed like any event (to the item's owner, else
// to every reseller of the account) and recorded in the audit trail.
type Override struct {
	Seller  string `json:"seller"`
	Account string `json:"account"`
	Item    string `json:"item"`
	// Event is a CloudBlue event name (with Params), or a catalog event
	// object whose type and data the override stands for.
	Event  json.RawMessage `json:"event"`
	Params string          `json:"params,omitempty"`
	Actor  string          `json:"actor"`
	Reason string          `json:"reason"`
	// ID makes the override idempotent; by default it is the id of the
	// event it stands for (see overrideID), so sending the same override
	// twice, or the genuine event after it, stores it once.
	ID string `json:"id,omitempty"`
}

// PublishOverride stores the override, records it in the audit trail and
// returns its event id.
func (r *Ops) PublishOverride(ctx context.Context, o Override) (string, relay.Result, error) {
	e, err := r.overrideEvent(o)
	if err != nil {
		return "", relay.Result{}, err
	}
	m, err := r.ingest.EventMsg(relay.Principal{Role: relay.RoleSeller, ID: e.Seller}, &e)
	if err != nil {
		return "", relay.Result{}, err
	}
	res, err := r.ingest.Store(ctx, []ingest.Record{ingest.RecordOf(m)})
	if err != nil {
		return "", relay.Result{}, err
	}
	entry := relay.AuditEntry{Actor: o.Actor, Reason: o.Reason, Action: "override", EventID: e.ID,
		Target: e.Seller + "/" + e.Account + "/" + e.Item, Detail: map[string]any{"event": e, "status": res[0].Status}}
	if err := r.trail.record(ctx, entry); err != nil {
		return e.ID, res[0], fmt.Errorf("override %s stored but its audit entry was not (retry: the event is not stored twice): %w", e.ID, err)
	}
	return e.ID, res[0], nil
}

func (r *Ops) overrideEvent(o Override) (events.Event, error) {
	ve := &events.ValidationError{}
	if _, err := r.dir.Seller(o.Seller); err != nil && o.Seller != "" {
		ve.Add("seller", "unknown seller %q", o.Seller)
	}
	if strings.TrimSpace(o.Actor) == "" {
		ve.Add("actor", "required: who makes this change")
	}
	if strings.TrimSpace(o.Reason) == "" {
		ve.Add("reason", "required: why, for the audit trail (e.g. a ticket number)")
	}
	checkOverrideSizes(ve, o)
	if err := ve.Err(); err != nil {
		return events.Event{}, err // an oversized part is not parsed at all
	}
	data := r.overrideData(ve, o)
	if err := ve.Err(); err != nil {
		return events.Event{}, err
	}
	raw, _ := json.Marshal(data)
	e := events.Event{SpecVersion: events.SpecVersion, ID: overrideID(o), Source: "/billrelay/ops", Type: events.TypeOpsOverride,
		Time: time.Now().UTC(), Seller: o.Seller, Account: o.Account, Item: o.Item, DataContentType: events.ContentTypeJSON, Data: raw}
	if err := e.Validate(); err != nil {
		return events.Event{}, err
	}
	return e, nil
}

// overrideID is the override's event id: the one given; for a CloudBlue
// event, the id the CloudBlue adapter gives the same event, and for a
// catalog event its own id, so that the override and the genuine event
// arriving late are one event (whichever comes second is a duplicate);
// otherwise one derived from the request, so that sending it twice stores
// it once.
func overrideID(o Override) string {
	if o.ID != "" {
		return o.ID
	}
	var name string
	if json.Unmarshal(o.Event, &name) == nil {
		if p, err := events.ParseParams(o.Params); err == nil {
			return events.CloudBlueID(o.Seller, o.Account, name, p, o.Item, "")
		}
	}
	var ce struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(o.Event, &ce) == nil && ce.ID != "" {
		return ce.ID
	}
	return events.DeriveID("ops", o.Seller, o.Account, o.Item, string(o.Event), o.Params, o.Actor, o.Reason)
}

// Bounds of an override's parts. An override is stored twice (as an event
// and in the audit trail, whose room is small and never cut short), so
// each part is held to what a manual correction needs.
const (
	maxOverrideActor  = 256
	maxOverrideReason = 1024
	maxOverrideParams = 4096
	maxOverrideEvent  = 16 << 10
)

func checkOverrideSizes(ve *events.ValidationError, o Override) {
	for _, f := range []struct {
		name string
		n    int
		max  int
	}{
		{"actor", len(o.Actor), maxOverrideActor},
		{"reason", len(o.Reason), maxOverrideReason},
		{"params", len(o.Params), maxOverrideParams},
		{"event", len(o.Event), maxOverrideEvent},
	} {
		if f.n > f.max {
			ve.Add(f.name, "%d bytes; at most %d", f.n, f.max)
		}
	}
}

// overrideData reads what the override stands for.
func (r *Ops) overrideData(ve *events.ValidationError, o Override) map[string]any {
	data := map[string]any{"actor": o.Actor, "reason": o.Reason}
	var name string
	if len(o.Event) == 0 {
		ve.Add("event", "required: a CloudBlue event name such as \"Creation Completed\" with params, or a catalog event object")
		return data
	}
	if json.Unmarshal(o.Event, &name) == nil {
		overrideFromCloudBlue(ve, name, o.Params, data)
		return data
	}
	var ce struct {
		Type string         `json:"type"`
		Data map[string]any `json:"data"`
	}
	if err := json.Unmarshal(o.Event, &ce); err != nil || ce.Type == "" {
		ve.Add("event", "expected a CloudBlue event name or a catalog event object with a type")
		return data
	}
	for k, v := range ce.Data {
		if _, set := data[k]; !set {
			data[k] = v
		}
	}
	data["applies"] = ce.Type
	return data
}

func overrideFromCloudBlue(ve *events.ValidationError, name, params string, data map[string]any) {
	p, err := events.ParseParams(params)
	if err != nil {
		ve.Add("params", "%v", err)
		return
	}
	m, err := events.MapCloudBlue(name, p)
	if err != nil {
		ve.Add("event", "%v", err)
		return
	}
	data["applies"], data["source_event"], data["params"] = m.Type, name, p
	if m.State != "" {
		data["state"] = m.State
	}
	if m.Error != nil {
		data["error"] = m.Error
	}
	if msg := p["Message"]; msg != "" {
		data["message"] = msg
	}
	if oi := p["OrderItemID"]; oi != "" {
		data["order_item"] = oi
	}
}
