package tmf

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/billrelay/billrelay/events"
)

// Notification is a TMF event as a listener receives it (v4 or v5).
type Notification struct {
	ID            string          `json:"id"`
	EventID       string          `json:"eventId"`
	EventTime     string          `json:"eventTime"`
	EventType     string          `json:"eventType"`
	TimeOcurred   string          `json:"timeOcurred"`  // v4 spelling (sic)
	TimeOccurred  string          `json:"timeOccurred"` // v5 spelling
	Event         json.RawMessage `json:"event"`
	StateChange   json.RawMessage `json:"stateChangeEvent"` // v5 schema's name for the payload
	Create        json.RawMessage `json:"createEvent"`
	AttributeChng json.RawMessage `json:"attributeValueChangeEvent"`
	Delete        json.RawMessage `json:"deleteEvent"`

	identity string // set by Map: see identify
}

type payload struct {
	ProductOrder *productOrder `json:"productOrder"`
	Service      *service      `json:"service"`
}

type productOrder struct {
	ID               string         `json:"id"`
	State            string         `json:"state"`
	BillingAccount   *ref           `json:"billingAccount"`
	RelatedParty     []relatedParty `json:"relatedParty"`
	ProductOrderItem []orderItem    `json:"productOrderItem"`
	ItemStateChange  []struct {
		ItemID string `json:"itemId"`
		State  string `json:"state"`
	} `json:"itemStateChange"`
}

type orderItem struct {
	ID                string `json:"id"`
	Action            string `json:"action"`
	State             string `json:"state"`
	Product           *ref   `json:"product"`
	RevisionOperation string `json:"revisionOperation"`
}

type service struct {
	ID           string         `json:"id"`
	State        string         `json:"state"`
	RelatedParty []relatedParty `json:"relatedParty"`
}

type ref struct {
	ID string `json:"id"`
}

// relatedParty reads both the v4 shape {id, role} and v5's {role,
// partyOrPartyRole: {id}}.
type relatedParty struct {
	ID               string `json:"id"`
	Role             string `json:"role"`
	PartyOrPartyRole *ref   `json:"partyOrPartyRole"`
}

func (p relatedParty) id() string {
	if p.ID == "" && p.PartyOrPartyRole != nil {
		return p.PartyOrPartyRole.ID
	}
	return p.ID
}

// Listener names the TMF listener events this adapter maps.
var Listener = map[string]map[string]bool{
	APIOrdering: {"productOrderCreateEvent": true, "productOrderStateChangeEvent": true,
		"productOrderAttributeValueChangeEvent": true, "productOrderDeleteEvent": true},
	APIInventory: {"serviceCreateEvent": true, "serviceStateChangeEvent": true,
		"serviceAttributeValueChangeEvent": true, "serviceDeleteEvent": true},
}

// Mapper maps notifications; AccountRole is the relatedParty role taken as
// the account when an order has no billingAccount (services have none).
type Mapper struct {
	AccountRole string
}

// Map turns a notification that arrived on listener eventName into catalog
// events: for an order, one for the order and one per item whose state it
// carries (an item under a cancel revision moves alone); for a service,
// one. account, when set, overrides where the account is read from.
func (mp Mapper) Map(seller, eventName, account string, n Notification, received time.Time) ([]events.Event, error) {
	p, err := n.payload()
	if err != nil {
		return nil, err
	}
	n.identity = n.identify(eventName, p)
	switch {
	case p.ProductOrder != nil:
		return mp.mapOrder(seller, eventName, account, n, p.ProductOrder, received)
	case p.Service != nil:
		return mp.mapService(seller, eventName, account, n, p.Service, received)
	}
	return nil, events.Invalid("event", "expected event.productOrder or event.service")
}

func (n Notification) payload() (payload, error) {
	var p payload
	for _, raw := range []json.RawMessage{n.Event, n.StateChange, n.Create, n.AttributeChng, n.Delete} {
		if len(raw) == 0 {
			continue
		}
		if err := json.Unmarshal(raw, &p); err != nil {
			return p, events.Invalid("event", "unreadable payload: %v", err)
		}
		if p.ProductOrder != nil || p.Service != nil {
			return p, nil
		}
	}
	return p, events.Invalid("event", "required: the notification's payload (event.productOrder or event.service)")
}

// base is what every event mapped from n shares.
func (n Notification) base(seller, account, item string, received time.Time) (events.Event, error) {
	e := events.Event{SpecVersion: events.SpecVersion, Source: "/tmf/" + seller, Seller: seller, Account: account,
		Item: item, Subject: item}
	for _, t := range []string{n.TimeOcurred, n.TimeOccurred, n.EventTime} {
		if t != "" {
			ts, err := events.UpstreamTime("timeOcurred", t)
			if err != nil {
				return e, err
			}
			e.Time = ts
			break
		}
	}
	e.Normalize(received)
	return e, nil
}

// upstreamID is the notification's identity: the same notification sent
// twice maps to the same event ids.
func (n Notification) upstreamID() string { return n.identity }

// ownID is the id the sender gave the notification: eventId, else id.
func (n Notification) ownID() string {
	if n.EventID != "" {
		return n.EventID
	}
	return n.ID
}

// identify is the notification's own eventId (else id). A notification
// without either is identified by what it says: the listener, its time
// and everything of the payload the adapter reads (order and item states,
// ids, account), so that an order moving acknowledged → inProgress →
// completed is three events, while the same notification sent again
// (whatever its JSON formatting) is one.
func (n Notification) identify(eventName string, p payload) string {
	if id := n.ownID(); id != "" {
		return id
	}
	canon, _ := json.Marshal(struct {
		Listener, Type, TimeOcurred, TimeOccurred, EventTime string
		Payload                                              payload
	}{eventName, n.EventType, n.TimeOcurred, n.TimeOccurred, n.EventTime, p})
	return events.DeriveID("content", string(canon))
}

func (mp Mapper) orderAccount(o *productOrder, account string) string {
	switch {
	case account != "":
		return account
	case o.BillingAccount != nil && o.BillingAccount.ID != "":
		return o.BillingAccount.ID
	}
	return mp.partyAccount(o.RelatedParty)
}

func (mp Mapper) partyAccount(parties []relatedParty) string {
	for _, p := range parties {
		if strings.EqualFold(p.Role, mp.AccountRole) {
			return p.id()
		}
	}
	return ""
}

func raw(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}
