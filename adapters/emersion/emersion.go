// Package emersion turns Emersion (telecom BSS) order and service results
// into catalog events. Two traps are handled on purpose: CompleteOrder's
// error string is kept exactly, as a non-retryable provisioning.failed
// (resubmitting does not help), and Emersion's "Order Completed" means the
// order was submitted, so it never maps to a fulfilled order.
package emersion

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
)

// Notification kinds.
const (
	KindCompleteOrder = "complete_order"
	KindOrderStatus   = "order_status"
	KindServiceStatus = "service_status"
)

// Notification is one result from an Emersion integration.
type Notification struct {
	Kind    string `json:"kind"`
	Account string `json:"account"`
	// Item is the service (or the account presale, for an order not yet
	// turned into services).
	Item             string `json:"item"`
	AccountPresaleID string `json:"account_presale_id,omitempty"`
	// Status and Error are CompleteOrder's result: Status=true, or the
	// error string it returned.
	Status        *bool  `json:"status,omitempty"`
	Error         string `json:"error,omitempty"`
	OrderStatus   string `json:"order_status,omitempty"`
	ServiceStatus string `json:"service_status,omitempty"`
	Time          string `json:"time,omitempty"`
}

// Map turns a notification of seller into a catalog event.
func Map(seller string, n Notification, received time.Time) (events.Event, error) {
	typ, d, err := mapKind(n)
	if err != nil {
		return events.Event{}, err
	}
	b, _ := json.Marshal(d)
	e := events.Event{SpecVersion: events.SpecVersion, Source: "/emersion/" + seller, Type: typ, Subject: n.Item,
		ID:     id(seller, n),
		Seller: seller, Account: n.Account, Item: n.Item, Data: b}
	return e.Complete(n.Time, received)
}

// id is what the notification says and, when it has one, its time: a
// service that goes Active, Cancelled and Active again is three events
// (without a time, a repeat of the same status is taken for a re-send).
func id(seller string, n Notification) string {
	parts := []string{seller, n.Kind, n.Account, n.Item, n.AccountPresaleID, statusWord(n.Status), n.Error, n.OrderStatus, n.ServiceStatus}
	if n.Time != "" {
		parts = append(parts, n.Time)
	}
	return events.DeriveID("em", parts...)
}

func statusWord(b *bool) string {
	if b == nil {
		return ""
	}
	return strconv.FormatBool(*b)
}

func mapKind(n Notification) (string, map[string]any, error) {
	switch n.Kind {
	case KindCompleteOrder:
		return mapCompleteOrder(n)
	case KindOrderStatus:
		return mapTerm(events.KindOrder, events.TypeOrderStateChanged, "order_status", n.OrderStatus)
	case KindServiceStatus:
		return mapTerm(events.KindService, events.TypeServiceStateChanged, "service_status", n.ServiceStatus)
	}
	return "", nil, events.Invalid("kind", "expected %s, %s or %s, got %q", KindCompleteOrder, KindOrderStatus, KindServiceStatus, n.Kind)
}

func mapCompleteOrder(n Notification) (string, map[string]any, error) {
	d := map[string]any{"upstream_event": "CompleteOrder"}
	if n.AccountPresaleID != "" {
		d["account_presale_id"] = n.AccountPresaleID
	}
	switch {
	case n.Status == nil:
		return "", nil, events.Invalid("status", "required for complete_order: true, or false with the error string")
	case *n.Status:
		d["state"] = events.OrderAcknowledged
		d["message"] = "CompleteOrder succeeded: the order is submitted (services are PreActive), not fulfilled"
		return events.TypeOrderStateChanged, d, nil
	case strings.TrimSpace(n.Error) == "":
		return "", nil, events.Invalid("error", "required when status is false: CompleteOrder's error string, exactly")
	}
	d["error"] = events.Failure{Code: failureCode(n.Error), Message: n.Error, Retryable: false}
	d["state"] = events.ServiceFailed
	return events.TypeProvisioningFailed, d, nil
}

// failureCode names, apart from other refusals, a service that already
// exists (already_exists, the code every adapter gives that case) and an
// identifier in use elsewhere (conflict), so that nobody resubmits them.
func failureCode(msg string) string {
	m := strings.ToLower(msg)
	switch {
	case events.AlreadyExists(m):
		return events.CodeAlreadyExists
	case strings.Contains(m, "identifier") && strings.Contains(m, "in use"):
		return "conflict"
	}
	return "complete_order_rejected"
}

func mapTerm(k events.Kind, typ, field, term string) (string, map[string]any, error) {
	m, ok := events.Lookup(events.PlatformEmersion, k, term)
	if !ok {
		return "", nil, events.Invalid(field, "unknown Emersion %s %q; see the README's mapping table", k, term)
	}
	d := map[string]any{"state": m.State, "upstream_state": term}
	if m.Note != "" {
		d["message"] = m.Note
	}
	return typ, d, nil
}

// Decode reads a JSON notification.
func Decode(r *http.Request) (Notification, error) {
	var n Notification
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&n); err != nil {
		return n, fmt.Errorf("%w: %v", events.ErrMalformed, err)
	}
	return n, nil
}

// Endpoints is the adapter's HTTP endpoint: POST /adapters/emersion/events
// with the seller's token; 202 with the ingest answer.
func Endpoints(pub relay.Publisher) []relay.Endpoint {
	return []relay.Endpoint{relay.IngestEndpoint("POST /adapters/emersion/events", pub,
		func(seller string, r *http.Request, received time.Time) (events.Event, error) {
			n, err := Decode(r)
			if err != nil {
				return events.Event{}, err
			}
			return Map(seller, n, received)
		})}
}
