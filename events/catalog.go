package events

import (
	"slices"
	"strings"
)

// Event types of the catalog. The type carries the meaning; data carries the
// states. research/domain.md section (1) is the source of this vocabulary.
const (
	TypeOrderPlaced            = "order.placed"
	TypeOrderCancelRequested   = "order.cancel_requested"
	TypeOrderStateChanged      = "order.state_changed"
	TypeServiceStateChanged    = "service.state_changed"
	TypeProvisioningCompleted  = "provisioning.completed"
	TypeProvisioningFailed     = "provisioning.failed"
	TypeOpsOverride            = "ops.override"
	TypeReconciliationSnapshot = "reconciliation.snapshot"
)

// Types lists the catalog in a stable order (for messages and docs).
var Types = []string{
	TypeOrderPlaced, TypeOrderCancelRequested, TypeOrderStateChanged,
	TypeServiceStateChanged, TypeProvisioningCompleted, TypeProvisioningFailed,
	TypeOpsOverride, TypeReconciliationSnapshot,
}

// KnownType reports whether t is in the catalog.
func KnownType(t string) bool { return slices.Contains(Types, t) }

// UpstreamTypes are the types a reseller may publish: orders travelling from
// a reselling platform to the selling one. Everything else comes from sellers.
var UpstreamTypes = []string{TypeOrderPlaced, TypeOrderCancelRequested}

// IsUpstream reports whether t travels from resellers to the seller.
func IsUpstream(t string) bool { return slices.Contains(UpstreamTypes, t) }

// Service (item) states.
const (
	ServiceOrdered      = "ordered"
	ServiceProvisioning = "provisioning"
	ServiceActive       = "active"
	ServiceSuspended    = "suspended"
	ServiceFailed       = "failed"
	ServiceTerminating  = "terminating"
	ServiceTerminated   = "terminated"
)

// ServiceStates lists the service state set in lifecycle order.
var ServiceStates = []string{
	ServiceOrdered, ServiceProvisioning, ServiceActive, ServiceSuspended,
	ServiceFailed, ServiceTerminating, ServiceTerminated,
}

// Order states (TMF622 v5 without its odd values; cancelling covers
// assessingCancellation and pendingCancellation).
const (
	OrderDraft        = "draft"
	OrderAcknowledged = "acknowledged"
	OrderPending      = "pending"
	OrderHeld         = "held"
	OrderInProgress   = "in_progress"
	OrderPartial      = "partial"
	OrderCompleted    = "completed"
	OrderFailed       = "failed"
	OrderCancelling   = "cancelling"
	OrderCancelled    = "cancelled"
	OrderRejected     = "rejected"
)

// OrderStates lists the order state set in lifecycle order.
var OrderStates = []string{
	OrderDraft, OrderAcknowledged, OrderPending, OrderHeld, OrderInProgress,
	OrderPartial, OrderCompleted, OrderFailed, OrderCancelling, OrderCancelled,
	OrderRejected,
}

// Kind says which state set an event's states belong to.
type Kind string

const (
	KindService Kind = "service"
	KindOrder   Kind = "order"
)

// States returns the state set of kind k.
func (k Kind) States() []string {
	if k == KindOrder {
		return OrderStates
	}
	return ServiceStates
}

// Valid reports whether s is a state of kind k.
func (k Kind) Valid(s string) bool { return slices.Contains(k.States(), s) }

// KindOf returns the state set an event type reports in. Types without
// states of their own (ops.override, reconciliation.snapshot) name their kind
// in data and are resolved by [Data.Kind].
func KindOf(eventType string) Kind {
	if strings.HasPrefix(eventType, "order.") {
		return KindOrder
	}
	return KindService
}

// serviceNext holds the forward transitions of a service. Anything else is
// regressive: it is still delivered, but flagged (research/domain.md
// scenarios 9-11). failed → active covers a completion that arrives after a
// failure was reported (Odin KB 131996).
var serviceNext = map[string][]string{
	ServiceOrdered:      {ServiceProvisioning, ServiceActive, ServiceFailed, ServiceTerminating, ServiceTerminated},
	ServiceProvisioning: {ServiceActive, ServiceFailed, ServiceSuspended, ServiceTerminating, ServiceTerminated},
	ServiceActive:       {ServiceProvisioning, ServiceSuspended, ServiceFailed, ServiceTerminating, ServiceTerminated},
	ServiceSuspended:    {ServiceActive, ServiceProvisioning, ServiceTerminating, ServiceTerminated, ServiceFailed},
	ServiceFailed:       {ServiceProvisioning, ServiceActive, ServiceTerminating, ServiceTerminated},
	ServiceTerminating:  {ServiceTerminated, ServiceFailed},
	ServiceTerminated:   {},
}

// orderNext holds the forward transitions of an order. completed → failed is
// the stale retry of Odin KB 131380 and is deliberately absent.
var orderNext = map[string][]string{
	OrderDraft:        {OrderAcknowledged, OrderPending, OrderCancelled, OrderRejected},
	OrderAcknowledged: {OrderPending, OrderHeld, OrderInProgress, OrderRejected, OrderCancelling, OrderCancelled, OrderFailed, OrderCompleted},
	OrderPending:      {OrderHeld, OrderInProgress, OrderRejected, OrderCancelling, OrderCancelled, OrderFailed, OrderCompleted},
	OrderHeld:         {OrderPending, OrderInProgress, OrderCancelling, OrderCancelled, OrderFailed, OrderRejected},
	OrderInProgress:   {OrderHeld, OrderPartial, OrderCompleted, OrderFailed, OrderCancelling, OrderCancelled},
	OrderPartial:      {OrderCompleted, OrderFailed, OrderCancelling, OrderCancelled},
	OrderFailed:       {OrderInProgress, OrderCompleted, OrderCancelling, OrderCancelled},
	OrderCancelling:   {OrderCancelled, OrderInProgress, OrderFailed},
	OrderCompleted:    {OrderCancelling},
	OrderCancelled:    {},
	OrderRejected:     {},
}

// Regressive reports whether moving an item of kind k from one state to the
// next goes against the lifecycle (e.g. active after terminated, or an order
// completed then failed). An unknown previous state is never regressive, and
// repeating a state is not a transition at all.
func Regressive(k Kind, from, to string) bool {
	if from == "" || from == to {
		return false
	}
	next := serviceNext
	if k == KindOrder {
		next = orderNext
	}
	allowed, ok := next[from]
	if !ok {
		return false
	}
	return !slices.Contains(allowed, to)
}
