package events

import "strings"

// Platforms whose vocabulary the catalog maps.
const (
	PlatformBILLmanager = "billmanager"
	PlatformCloudBlue   = "cloudblue"
	PlatformTMF622      = "tmf622"
	PlatformTMF638      = "tmf638"
	PlatformServiceNow  = "servicenow"
	PlatformEmersion    = "emersion"
)

// Mapping is one row of the vocabulary table: a platform's own word for a
// state, and the catalog state it means. Unverified rows come from
// inference, not from a public source (research/domain.md marks them [I]);
// adapters keep those configurable.
type Mapping struct {
	Platform   string
	Term       string
	Kind       Kind
	State      string
	Unverified bool
	Note       string
}

// Vocabulary is the mapping table of research/domain.md section (1). The
// README's table is checked against it by a test.
var Vocabulary = []Mapping{
	// Orders.
	{PlatformTMF622, "draft", KindOrder, OrderDraft, false, "v5 only"},
	{PlatformServiceNow, "Draft", KindOrder, OrderDraft, false, ""},
	{PlatformEmersion, "Order Incomplete", KindOrder, OrderDraft, false, ""},
	{PlatformBILLmanager, "operation created", KindOrder, OrderAcknowledged, true, "running operation opened for the order"},
	{PlatformCloudBlue, "PD", KindOrder, OrderAcknowledged, true, "sales order placed"},
	{PlatformTMF622, "acknowledged", KindOrder, OrderAcknowledged, false, ""},
	{PlatformServiceNow, "Acknowledged", KindOrder, OrderAcknowledged, false, ""},
	{PlatformEmersion, "Order Completed", KindOrder, OrderAcknowledged, false, "means submitted, never fulfilled"},
	{PlatformBILLmanager, "unpaid order", KindOrder, OrderPending, false, ""},
	{PlatformCloudBlue, "NP", KindOrder, OrderPending, false, "no payment method"},
	{PlatformCloudBlue, "WP", KindOrder, OrderPending, false, "waiting for payment"},
	{PlatformCloudBlue, "WA", KindOrder, OrderPending, false, "waiting for approval"},
	{PlatformCloudBlue, "SS", KindOrder, OrderPending, false, "suspected fraud"},
	{PlatformTMF622, "pending", KindOrder, OrderPending, false, ""},
	{PlatformServiceNow, "New", KindOrder, OrderPending, false, ""},
	{PlatformServiceNow, "Submitted", KindOrder, OrderPending, false, ""},
	{PlatformServiceNow, "Awaiting information", KindOrder, OrderPending, false, ""},
	{PlatformBILLmanager, "task set to manual", KindOrder, OrderHeld, true, ""},
	{PlatformCloudBlue, "HL", KindOrder, OrderHeld, false, "hold"},
	{PlatformCloudBlue, "MO", KindOrder, OrderHeld, false, "manual operation required"},
	{PlatformCloudBlue, "LO", KindOrder, OrderHeld, false, "long running operation"},
	{PlatformTMF622, "held", KindOrder, OrderHeld, false, ""},
	{PlatformServiceNow, "On hold", KindOrder, OrderHeld, false, ""},
	{PlatformEmersion, "Order Pending", KindOrder, OrderHeld, false, ""},
	{PlatformEmersion, "Order Quarantined", KindOrder, OrderHeld, false, ""},
	{PlatformBILLmanager, "in progress", KindOrder, OrderInProgress, false, "also shown as pending issuance"},
	{PlatformCloudBlue, "I4", KindOrder, OrderInProgress, false, ""},
	{PlatformCloudBlue, "PR", KindOrder, OrderInProgress, false, "provisioning"},
	{PlatformCloudBlue, "RB", KindOrder, OrderInProgress, false, "checking provisioning conditions"},
	{PlatformTMF622, "inProgress", KindOrder, OrderInProgress, false, ""},
	{PlatformServiceNow, "In progress", KindOrder, OrderInProgress, false, ""},
	{PlatformServiceNow, "Revision in progress", KindOrder, OrderInProgress, false, ""},
	{PlatformTMF622, "partial", KindOrder, OrderPartial, false, ""},
	{PlatformBILLmanager, "postopen done", KindOrder, OrderCompleted, false, ""},
	{PlatformCloudBlue, "PC", KindOrder, OrderCompleted, false, "provisioning completed"},
	{PlatformCloudBlue, "CR", KindOrder, OrderCompleted, false, "ready to complete"},
	{PlatformCloudBlue, "CP", KindOrder, OrderCompleted, false, "completed"},
	{PlatformTMF622, "completed", KindOrder, OrderCompleted, false, ""},
	{PlatformServiceNow, "Completed", KindOrder, OrderCompleted, true, "not in the stored state list"},
	{PlatformBILLmanager, "errorxml", KindOrder, OrderFailed, false, "runningoperation errorxml + setmanual"},
	{PlatformCloudBlue, "PF", KindOrder, OrderFailed, false, "provisioning failed"},
	{PlatformTMF622, "failed", KindOrder, OrderFailed, false, ""},
	{PlatformEmersion, "Order Failed", KindOrder, OrderFailed, false, ""},
	{PlatformTMF622, "assessingCancellation", KindOrder, OrderCancelling, false, ""},
	{PlatformTMF622, "pendingCancellation", KindOrder, OrderCancelling, false, ""},
	{PlatformServiceNow, "revisionOperation=Cancel", KindOrder, OrderCancelling, false, ""},
	{PlatformCloudBlue, "CL", KindOrder, OrderCancelled, false, "cancelled"},
	{PlatformTMF622, "cancelled", KindOrder, OrderCancelled, false, ""},
	{PlatformServiceNow, "Canceled", KindOrder, OrderCancelled, false, ""},
	{PlatformEmersion, "Order Cancelled", KindOrder, OrderCancelled, false, ""},
	{PlatformTMF622, "rejected", KindOrder, OrderRejected, false, ""},
	{PlatformServiceNow, "Rejected", KindOrder, OrderRejected, false, ""},
	// Services (items).
	{PlatformBILLmanager, "1", KindService, ServiceOrdered, true, "item.status code"},
	{PlatformCloudBlue, "Not Provisioned", KindService, ServiceOrdered, false, ""},
	{PlatformTMF638, "feasibilityChecked", KindService, ServiceOrdered, false, ""},
	{PlatformTMF638, "designed", KindService, ServiceOrdered, false, ""},
	{PlatformTMF638, "reserved", KindService, ServiceOrdered, false, ""},
	{PlatformEmersion, "PreActive", KindService, ServiceOrdered, false, "created by CompleteOrder, not yet active"},
	{PlatformBILLmanager, "5", KindService, ServiceProvisioning, true, "item.status code"},
	{PlatformCloudBlue, "Starting", KindService, ServiceProvisioning, false, ""},
	{PlatformCloudBlue, "Changing Plan", KindService, ServiceProvisioning, false, ""},
	{PlatformBILLmanager, "2", KindService, ServiceActive, false, "service_status 2"},
	{PlatformCloudBlue, "Active", KindService, ServiceActive, false, "subscription Active, service Running"},
	{PlatformCloudBlue, "Running", KindService, ServiceActive, false, ""},
	{PlatformTMF638, "active", KindService, ServiceActive, false, ""},
	{PlatformEmersion, "Active", KindService, ServiceActive, false, ""},
	{PlatformBILLmanager, "3", KindService, ServiceSuspended, true, "item.status code"},
	{PlatformBILLmanager, "8", KindService, ServiceSuspended, false, "service_status 8 (not active)"},
	{PlatformCloudBlue, "Stopped", KindService, ServiceSuspended, false, ""},
	{PlatformCloudBlue, "Administrative Hold", KindService, ServiceSuspended, false, ""},
	{PlatformCloudBlue, "Credit Hold", KindService, ServiceSuspended, false, ""},
	{PlatformTMF638, "inactive", KindService, ServiceSuspended, true, "provisioning when the service was never active"},
	{PlatformCloudBlue, "Failed", KindService, ServiceFailed, false, "provisioning item failed"},
	{PlatformEmersion, "Aborted", KindService, ServiceFailed, true, ""},
	{PlatformBILLmanager, "4", KindService, ServiceTerminated, true, "item.status code"},
	{PlatformCloudBlue, "Terminated", KindService, ServiceTerminated, false, "service Removed"},
	{PlatformCloudBlue, "Removed", KindService, ServiceTerminated, false, ""},
	{PlatformTMF638, "terminated", KindService, ServiceTerminated, false, ""},
	{PlatformEmersion, "Cancelled", KindService, ServiceTerminated, false, ""},
}

// Lookup finds the catalog state a platform's term means for kind k. Terms
// compare without regard to case, as the platforms are not consistent.
func Lookup(platform string, k Kind, term string) (Mapping, bool) {
	for _, m := range Vocabulary {
		if m.Platform == platform && m.Kind == k && strings.EqualFold(m.Term, term) {
			return m, true
		}
	}
	return Mapping{}, false
}
