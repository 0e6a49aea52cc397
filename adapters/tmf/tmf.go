// Package tmf speaks TM Forum Open APIs on both sides of the relay. In:
// a seller's TMF622 Product Ordering and TMF638 Service Inventory
// notifications (v4 and v5) arrive at listener endpoints and become
// catalog events. Out: a reseller registers TMF hubs and receives
// TMF-shaped notifications, with the retries and dead letters of webhooks.
package tmf

import (
	"strings"

	"github.com/billrelay/billrelay/events"
)

// APIs the adapter serves.
const (
	APIOrdering  = "productOrderingManagement"
	APIInventory = "serviceInventory"
)

// orderState maps a TMF622 order or item state onto the catalog (v5's
// "inProgress.accepted" is in progress).
func orderState(s string) (string, bool) {
	if strings.HasPrefix(s, "inProgress") {
		return events.OrderInProgress, true
	}
	m, ok := events.Lookup(events.PlatformTMF622, events.KindOrder, s)
	return m.State, ok
}

// serviceState maps a TMF638 service state onto the catalog.
func serviceState(s string) (string, bool) {
	m, ok := events.Lookup(events.PlatformTMF638, events.KindService, s)
	return m.State, ok
}

// tmfOrderState is the TMF622 v4 name of a catalog order state (v4 has no
// draft; an item has no partial).
func tmfOrderState(s string, item bool) string {
	switch s {
	case events.OrderDraft:
		return "acknowledged"
	case events.OrderInProgress:
		return "inProgress"
	case events.OrderCancelling:
		return "pendingCancellation"
	case events.OrderPartial:
		if item {
			return "inProgress"
		}
	}
	return s
}

// tmfServiceState is the TMF638 v4 state closest to a catalog service
// state; the exact catalog state also travels as the service
// characteristic billrelayState.
var tmfServiceState = map[string]string{
	events.ServiceOrdered:      "designed",
	events.ServiceProvisioning: "reserved",
	events.ServiceActive:       "active",
	events.ServiceSuspended:    "inactive",
	events.ServiceFailed:       "inactive",
	events.ServiceTerminating:  "active",
	events.ServiceTerminated:   "terminated",
}

// ServiceStateTable lists catalog → TMF638 for the README.
func ServiceStateTable() map[string]string { return tmfServiceState }
