// Package billmanager turns ISPsystem BILLmanager event-handler calls
// (service.postopen, postsuspend, postresume, postclose, postsetparam,
// postprolong with the item's elid) into catalog events, so that a selling
// BILLmanager pushes each change once instead of being polled by
// "checkevent" (whose first reader empties the account's list).
package billmanager

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
)

// DefaultStatuses maps BILLmanager's numeric item.status codes to service
// states. The codes are widely used but not confirmed by a public source
// (research/domain.md): RELAY_BILLMANAGER_STATUS overrides them.
var DefaultStatuses = map[string]string{
	"1": events.ServiceOrdered, "2": events.ServiceActive, "3": events.ServiceSuspended,
	"4": events.ServiceTerminated, "5": events.ServiceProvisioning,
}

// funcs maps the event handler functions to catalog types and states. An
// empty state means the function reports no state of its own.
var funcs = map[string]struct{ typ, state, op string }{
	"service.postopen":     {events.TypeProvisioningCompleted, events.ServiceActive, "open"},
	"service.postsuspend":  {events.TypeServiceStateChanged, events.ServiceSuspended, "suspend"},
	"service.postresume":   {events.TypeServiceStateChanged, events.ServiceActive, "resume"},
	"service.postclose":    {events.TypeServiceStateChanged, events.ServiceTerminated, "close"},
	"service.postsetparam": {events.TypeProvisioningCompleted, "", "setparam"},
	"service.postprolong":  {events.TypeProvisioningCompleted, "", "prolong"},
}

// Notification is one event-handler call: the function, the item (elid),
// the account, and optionally BILLmanager's own event id (keep it: it
// makes a retried call one event), the numeric status and the time.
type Notification struct {
	Func    string            `json:"func"`
	ElID    string            `json:"elid"`
	Account string            `json:"account"`
	EventID string            `json:"eventid,omitempty"`
	Status  string            `json:"status,omitempty"`
	Time    string            `json:"time,omitempty"`
	Params  map[string]string `json:"params,omitempty"`
}

// Mapper maps notifications with a status table.
type Mapper struct {
	Statuses map[string]string
}

// Map turns a notification of seller into a catalog event.
func (mp Mapper) Map(seller string, n Notification, received time.Time) (events.Event, error) {
	ve := &events.ValidationError{}
	f, known := funcs[n.Func]
	state := f.state
	switch {
	case n.Func == "" && n.Status == "":
		ve.Add("func", "required: one of %s (or a status)", strings.Join(funcNames(), ", "))
	case n.Func != "" && !known:
		ve.Add("func", "unknown event handler function %q; expected one of %s", n.Func, strings.Join(funcNames(), ", "))
	}
	if n.Status != "" {
		s, ok := mp.Statuses[n.Status]
		if !ok {
			ve.Add("status", "unknown item status %q; the status table maps %v", n.Status, mp.Statuses)
		}
		state = s
	}
	if err := ve.Err(); err != nil {
		return events.Event{}, err
	}
	if n.Func == "" {
		f.typ, f.op = events.TypeServiceStateChanged, "status"
	}
	e := events.Event{SpecVersion: events.SpecVersion, ID: mp.id(seller, n, received), Source: "/billmgr/" + seller,
		Type: f.typ, Subject: n.ElID, Seller: seller, Account: n.Account, Item: n.ElID, Data: data(n, state, f.op)}
	return e.Complete(n.Time, received)
}

// id is BILLmanager's own event id when the handler passes it (a retried
// call is then one event); otherwise the function, item, time and
// parameters: two calls for the same item at different times, or at one
// time with different parameters, are two changes.
func (mp Mapper) id(seller string, n Notification, received time.Time) string {
	if n.EventID != "" {
		return events.DeriveID("bm", seller, n.EventID)
	}
	when := n.Time
	if when == "" {
		when = received.UTC().Format(time.RFC3339Nano)
	}
	parts := []string{seller, n.Func, n.ElID, n.Status, when}
	if len(n.Params) > 0 {
		p, _ := json.Marshal(n.Params) // keys sorted
		parts = append(parts, string(p))
	}
	return events.DeriveID("bm", parts...)
}

func data(n Notification, state, op string) json.RawMessage {
	d := map[string]any{"operation": op}
	if state != "" {
		d["state"] = state
	}
	if n.Func != "" {
		d["upstream_event"] = n.Func
	}
	if n.Status != "" {
		d["upstream_status"] = n.Status
	}
	if len(n.Params) > 0 {
		d["params"] = n.Params
	}
	b, _ := json.Marshal(d)
	return b
}

func funcNames() []string {
	out := make([]string, 0, len(funcs))
	for f := range funcs {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// ParseStatuses reads RELAY_BILLMANAGER_STATUS ("1=ordered,2=active,…").
func ParseStatuses(s string) (map[string]string, error) {
	if s == "" {
		return DefaultStatuses, nil
	}
	out := map[string]string{}
	for _, part := range strings.Split(s, ",") {
		code, state, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || code == "" || !events.KindService.Valid(state) {
			return nil, fmt.Errorf("%q: expected code=state with a service state (%s)", part, strings.Join(events.ServiceStates, ", "))
		}
		out[code] = state
	}
	return out, nil
}

// Decode reads a notification: JSON, or a form with the same names where
// any other field becomes a parameter (an event handler passes what it
// has).
func Decode(r *http.Request) (Notification, error) {
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		return relay.DecodeJSON[Notification](r)
	}
	if err := r.ParseForm(); err != nil {
		return Notification{}, fmt.Errorf("%w: form: %v", events.ErrMalformed, err)
	}
	f := r.PostForm
	n := Notification{Func: f.Get("func"), ElID: f.Get("elid"), Account: f.Get("account"), EventID: f.Get("eventid"),
		Status: f.Get("status"), Time: f.Get("time"), Params: map[string]string{}}
	for k, v := range f {
		switch k {
		case "func", "elid", "account", "eventid", "status", "time", "token":
		default:
			n.Params[k] = strings.Join(v, ",")
		}
	}
	return n, nil
}

// Endpoints is the adapter's HTTP endpoint: POST /adapters/billmanager/events
// with the seller's token; 202 with the ingest answer.
func Endpoints(mp Mapper, pub relay.Publisher) []relay.Endpoint {
	return []relay.Endpoint{relay.NotificationEndpoint("POST /adapters/billmanager/events", pub, Decode, mp.Map)}
}
