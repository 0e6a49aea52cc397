package tmf

import (
	"strconv"
	"strings"
	"time"

	"github.com/billrelay/billrelay/events"
)

// itemState is one order item and the state the notification gives it.
type itemState struct {
	id, action, state, product string
	revision                   bool
}

func (o *productOrder) items() []itemState {
	var out []itemState
	for _, it := range o.ProductOrderItem {
		s := itemState{id: it.ID, action: it.Action, state: it.State, revision: strings.EqualFold(it.RevisionOperation, "cancel")}
		if it.Product != nil {
			s.product = it.Product.ID
		}
		out = append(out, s)
	}
	for _, ch := range o.ItemStateChange { // v5
		out = append(out, itemState{id: ch.ItemID, state: ch.State})
	}
	return out
}

func (mp Mapper) mapOrder(seller, eventName, account string, n Notification, o *productOrder, received time.Time) ([]events.Event, error) {
	ve := &events.ValidationError{}
	account = mp.orderAccount(o, account)
	if account == "" {
		ve.Add("event.productOrder.billingAccount.id", "required (or a relatedParty with role %q, or ?account=)", mp.AccountRole)
	}
	if o.ID == "" {
		ve.Add("event.productOrder.id", "required")
	}
	if err := ve.Err(); err != nil {
		return nil, err
	}
	items := o.items()
	revision := false
	for _, it := range items {
		revision = revision || it.revision
	}
	var out []events.Event
	if !revision {
		e, err := mp.orderEvent(seller, eventName, account, n, o, items, received)
		if err != nil || e == nil {
			return out, err
		}
		out = append(out, *e)
	}
	for i, it := range items {
		if revision && !it.revision {
			continue // a cancel revision moves only its own item
		}
		e, err := mp.itemEvent(seller, eventName, account, n, o.ID, it, i, received)
		if err != nil {
			return nil, err
		}
		if e != nil {
			out = append(out, *e)
		}
	}
	return out, nil
}

// orderEvent is the order's own state change (nil when the notification
// carries no order state and is not a deletion).
func (mp Mapper) orderEvent(seller, eventName, account string, n Notification, o *productOrder, items []itemState, received time.Time) (*events.Event, error) {
	tmfState := o.State
	if tmfState == "" && eventName == "productOrderDeleteEvent" {
		tmfState = "cancelled"
	}
	if tmfState == "" {
		return nil, nil
	}
	state, ok := orderState(tmfState)
	if !ok {
		return nil, events.Invalid("event.productOrder.state", "unknown TMF622 order state %q", tmfState)
	}
	e, err := n.base(seller, account, o.ID, received)
	if err != nil {
		return nil, err
	}
	var list []map[string]string
	for _, it := range items {
		list = append(list, map[string]string{"id": it.id, "action": it.action, "state": it.state})
	}
	e.ID, e.Type = events.DeriveID("tmf", seller, n.upstreamID(), o.ID), events.TypeOrderStateChanged
	d := map[string]any{"state": state, "order": o.ID, "upstream_state": tmfState, "upstream_event": eventName, "items": list}
	if eventName == "productOrderDeleteEvent" {
		d["deleted"] = true
	}
	e.Data = raw(d)
	return &e, e.Validate()
}

// itemEvent is one item's state change; the item is "<order>:<item id>"
// (nil when the notification gives the item no state).
func (mp Mapper) itemEvent(seller, eventName, account string, n Notification, order string, it itemState, i int, received time.Time) (*events.Event, error) {
	tmfState := it.state
	if tmfState == "" && it.revision {
		tmfState = "assessingCancellation"
	}
	if tmfState == "" {
		return nil, nil
	}
	state, ok := orderState(tmfState)
	field := "event.productOrder.productOrderItem[" + strconv.Itoa(i) + "].state"
	if !ok {
		return nil, events.Invalid(field, "unknown TMF622 order item state %q", tmfState)
	}
	e, err := n.base(seller, account, order+":"+it.id, received)
	if err != nil {
		return nil, err
	}
	e.ID, e.Type = events.DeriveID("tmf", seller, n.upstreamID(), order, it.id), events.TypeOrderStateChanged
	d := map[string]any{"state": state, "order": order, "order_item": it.id, "upstream_state": tmfState, "upstream_event": eventName}
	if it.action != "" {
		d["action"] = it.action
	}
	if it.product != "" {
		d["product"] = it.product
	}
	if it.revision {
		d["revision"] = "cancel"
	}
	e.Data = raw(d)
	return &e, e.Validate()
}

func (mp Mapper) mapService(seller, eventName, account string, n Notification, s *service, received time.Time) ([]events.Event, error) {
	ve := &events.ValidationError{}
	if account == "" {
		account = mp.partyAccount(s.RelatedParty)
	}
	if account == "" {
		ve.Add("event.service.relatedParty", "no party with role %q to take the account from (or give ?account=)", mp.AccountRole)
	}
	tmfState := s.State
	if tmfState == "" && eventName == "serviceDeleteEvent" {
		tmfState = "terminated"
	}
	state, ok := serviceState(tmfState)
	if !ok {
		ve.Add("event.service.state", "unknown TMF638 service state %q", tmfState)
	}
	if s.ID == "" {
		ve.Add("event.service.id", "required")
	}
	if err := ve.Err(); err != nil {
		return nil, err
	}
	e, err := n.base(seller, account, s.ID, received)
	if err != nil {
		return nil, err
	}
	e.ID, e.Type = events.DeriveID("tmf", seller, n.upstreamID(), s.ID), events.TypeServiceStateChanged
	e.Data = raw(map[string]any{"state": state, "upstream_state": tmfState, "upstream_event": eventName})
	return []events.Event{e}, e.Validate()
}
