// Package cloudblue turns CloudBlue Commerce / Odin Automation billing
// events ("Creation Completed", "Stop Service", …, with their
// "key=value;…" parameter strings) into catalog events. An Event Manager
// handler posts each event to the relay; the same upstream event sent twice
// (a retry, or "Creation Completed" run by both billing and OA, Odin KB
// 118444) becomes one event.
package cloudblue

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
)

// Notification is what a CloudBlue event handler posts (JSON, or the same
// names form-encoded).
type Notification struct {
	// Event is the Event Manager event type, e.g. "Creation Completed".
	Event string `json:"event"`
	// Params is the event's parameter string.
	Params string `json:"params"`
	// Account is the customer account at CloudBlue the resellers buy
	// through.
	Account string `json:"account"`
	// Item overrides the item (by default SubscrID, else OrderItemID).
	Item string `json:"item,omitempty"`
	// Time is when the event happened (RFC 3339); default: on receipt.
	Time string `json:"time,omitempty"`
}

// Map turns a notification of seller into a catalog event.
func Map(seller string, n Notification, received time.Time) (events.Event, error) {
	ve := &events.ValidationError{}
	params, err := events.ParseParams(n.Params)
	if err != nil {
		ve.Add("params", "%v", err)
	}
	m, err := events.MapCloudBlue(n.Event, params)
	if err != nil {
		ve.Add("event", "%v", err)
	}
	item := n.Item
	if item == "" {
		item = events.CloudBlueItem(params)
	}
	if item == "" && params != nil {
		ve.Add("params", "no SubscrID or OrderItemID: give one, or the item")
	}
	if err := ve.Err(); err != nil {
		return events.Event{}, err
	}
	e := events.Event{
		SpecVersion: events.SpecVersion, Source: "/cloudblue/" + seller, Type: m.Type, Subject: item,
		ID:     events.CloudBlueID(seller, n.Account, n.Event, params, item, n.Time),
		Seller: seller, Account: n.Account, Item: item, Data: data(n.Event, params, m),
	}
	return e.Complete(n.Time, received)
}

func data(name string, params map[string]string, m events.CloudBlueMapping) json.RawMessage {
	d := map[string]any{"upstream_event": name, "params": params}
	if m.State != "" {
		d["state"] = m.State
	}
	if m.Error != nil {
		d["error"] = m.Error
	}
	if m.Operation != "" {
		d["operation"] = m.Operation
	}
	if msg := params["Message"]; msg != "" {
		d["message"] = msg
	}
	if oi := params["OrderItemID"]; oi != "" {
		d["order_item"] = oi
	}
	b, _ := json.Marshal(d)
	return b
}

// Decode reads a notification from a JSON body or a form.
func Decode(r *http.Request) (Notification, error) {
	var n Notification
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		if err := r.ParseForm(); err != nil {
			return n, fmt.Errorf("%w: form: %v", events.ErrMalformed, err)
		}
		f := r.PostForm
		return Notification{Event: f.Get("event"), Params: f.Get("params"), Account: f.Get("account"),
			Item: f.Get("item"), Time: f.Get("time")}, nil
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&n); err != nil {
		return n, fmt.Errorf("%w: %v", events.ErrMalformed, err)
	}
	return n, nil
}

// Endpoints is the adapter's HTTP endpoint: POST /adapters/cloudblue/events
// with the seller's token; 202 with the ingest answer.
func Endpoints(pub relay.Publisher) []relay.Endpoint {
	return []relay.Endpoint{relay.IngestEndpoint("POST /adapters/cloudblue/events", pub,
		func(seller string, r *http.Request, received time.Time) (events.Event, error) {
			n, err := Decode(r)
			if err != nil {
				return events.Event{}, err
			}
			return Map(seller, n, received)
		})}
}
