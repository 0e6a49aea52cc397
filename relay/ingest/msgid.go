package ingest

import (
	"strings"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
)

// Message ids. Event ids are unique per seller, not across sellers (two
// sellers counting from 1 is the common case), so every message id the
// relay derives from an event id carries the seller: a bare id would make
// one seller's event a "duplicate" of another's, and that event would
// reach no one. Seller and reseller ids hold only letters, digits, "-"
// and "_", so the part before the first ":" is unambiguous, and only an
// order's has a ".": the two forms never collide.

// eventMsgID is the INGEST and EVENTS message id of a seller's event.
func eventMsgID(seller, id string) string { return seller + ":" + id }

// orderMsgID is the INGEST and ORDERS message id of a reseller's order to
// its seller.
func orderMsgID(seller, reseller, id string) string { return seller + "." + reseller + ":" + id }

// CopyMsgID is the DELIVERY message id of reseller's copy of the event
// stored under msgID (seller + event id + reseller). An event stored by a
// version before seller scoping keeps its bare id there, so that routing
// it again after an upgrade still makes a duplicate copy, not a second one.
func CopyMsgID(reseller, msgID string) string { return reseller + ":" + msgID }

// dedupeKey is what the dedupe index remembers a stored record by: its
// message id, or, for a record stored before seller scoping (an event
// under its bare id, an order under "<reseller>:<id>"), the scoped id
// rebuilt from its subject, so that the dedupe window carries over an
// upgrade.
func dedupeKey(rc Record) string {
	id := rc.Header.Get(relay.HeaderEventID)
	switch {
	case id == "":
	case rc.MsgID == id:
		if k, err := events.ParseEventSubject(rc.Subject); err == nil {
			return eventMsgID(k.Seller, id)
		}
	case strings.HasPrefix(rc.Subject, events.OrdersPrefix+"."):
		if reseller, k, err := events.ParseOrderSubject(rc.Subject); err == nil && rc.MsgID == reseller+":"+id {
			return orderMsgID(k.Seller, reseller, id)
		}
	}
	return rc.MsgID
}
