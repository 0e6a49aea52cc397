package events

import (
	"fmt"
	"sort"
	"strings"
)

// CloudBlue/Odin billing event names the relay understands (Event Manager
// event types, research/domain.md section b).
const (
	CBCreationCompleted   = "Creation Completed"
	CBUpgradeCompleted    = "Upgrade Completed"
	CBChangePlanCompleted = "Change Plan Completed"
	CBStopService         = "Stop Service"
	CBStartService        = "Start Service"
	CBCancellationPlaced  = "Cancellation Order Placed"
)

// ParseParams reads a CloudBlue event parameter string such as
// "GateID=4;IssuedSuccessfully=1;Message=Done;OrderItemID=5;SubscrID=7".
// Spaces around keys and values are dropped; an empty part (a trailing
// ";") is ignored. A part without "=", an empty key or a key given twice
// is an error naming the part.
func ParseParams(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, part := range strings.Split(s, ";") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch {
		case !ok:
			return nil, fmt.Errorf("parameter %q: expected key=value", clip(part))
		case k == "":
			return nil, fmt.Errorf("parameter %q: empty key", clip(part))
		case out[k] != "" || hasKey(out, k):
			return nil, fmt.Errorf("parameter %q given twice", clip(k))
		}
		out[k] = v
	}
	return out, nil
}

func hasKey(m map[string]string, k string) bool { _, ok := m[k]; return ok }

// FormatParams writes params back in CloudBlue's form, keys sorted.
func FormatParams(p map[string]string) string {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + p[k]
	}
	return strings.Join(parts, ";")
}

// CloudBlueMapping is what one CloudBlue event means in the catalog.
type CloudBlueMapping struct {
	Type  string
	State string
	// Error is set for failed provisioning (IssuedSuccessfully=0).
	Error *Failure
	// Operation names what completed: "create", "upgrade", "change_plan".
	Operation string
}

// MapCloudBlue maps a CloudBlue event and its parameters onto the catalog:
// the "... Completed" events become provisioning.completed, or
// provisioning.failed when IssuedSuccessfully=0 (with Message as the
// error); Stop and Start Service become service state changes; a placed
// cancellation order means the service is terminating.
func MapCloudBlue(name string, params map[string]string) (CloudBlueMapping, error) {
	switch name {
	case CBCreationCompleted, CBUpgradeCompleted, CBChangePlanCompleted:
		return mapCompletion(name, params)
	case CBStopService:
		return CloudBlueMapping{Type: TypeServiceStateChanged, State: ServiceSuspended}, nil
	case CBStartService:
		return CloudBlueMapping{Type: TypeServiceStateChanged, State: ServiceActive}, nil
	case CBCancellationPlaced:
		return CloudBlueMapping{Type: TypeServiceStateChanged, State: ServiceTerminating}, nil
	}
	return CloudBlueMapping{}, fmt.Errorf("unknown CloudBlue event %q; expected one of %s", clip(name),
		strings.Join([]string{CBCreationCompleted, CBUpgradeCompleted, CBChangePlanCompleted, CBStopService, CBStartService, CBCancellationPlaced}, ", "))
}

func mapCompletion(name string, params map[string]string) (CloudBlueMapping, error) {
	op := map[string]string{CBCreationCompleted: "create", CBUpgradeCompleted: "upgrade", CBChangePlanCompleted: "change_plan"}[name]
	switch params["IssuedSuccessfully"] {
	case "1":
		return CloudBlueMapping{Type: TypeProvisioningCompleted, State: ServiceActive, Operation: op}, nil
	case "0":
		msg := params["Message"]
		if msg == "" {
			msg = name + " reported IssuedSuccessfully=0"
		}
		code := "IssuedSuccessfully=0"
		if AlreadyExists(msg) {
			code = CodeAlreadyExists
		}
		return CloudBlueMapping{Type: TypeProvisioningFailed, State: ServiceFailed, Operation: op,
			Error: &Failure{Code: code, Message: msg, Retryable: false}}, nil
	}
	return CloudBlueMapping{}, fmt.Errorf("%s needs IssuedSuccessfully=0 or 1, got %q", name, clip(params["IssuedSuccessfully"]))
}

// CloudBlueID is the event id of a CloudBlue event: the upstream change's
// identity, so that the same change sent twice is one event. A completion
// is its provisioning item's outcome (OrderItemID, SubscrID,
// IssuedSuccessfully; not GateID or Message, so that "Creation Completed"
// run by both billing and OA, Odin KB 118444, is one event), and a manual
// override of it (billrelay publish) gets the same id, so that the late
// genuine event is a duplicate. A failure also carries its Message: a
// resubmit that fails again ("#2007 … already exists") is a new failure.
// Service events (Stop, Start, …) recur for one subscription: their time,
// when the handler gives one, tells them apart. item counts only when it
// is not the one the parameters name.
func CloudBlueID(seller, account, name string, params map[string]string, item, when string) string {
	if item == CloudBlueItem(params) {
		item = ""
	}
	parts := []string{seller, account, name, params["OrderItemID"], params["SubscrID"], params["IssuedSuccessfully"], item}
	completion := name == CBCreationCompleted || name == CBUpgradeCompleted || name == CBChangePlanCompleted
	switch {
	case completion && params["IssuedSuccessfully"] == "0" && params["Message"] != "":
		parts = append(parts, params["Message"])
	case !completion && when != "":
		parts = append(parts, when)
	}
	return DeriveID("cb", parts...)
}

// CloudBlueItem is the item a CloudBlue event is about: the subscription
// (SubscrID) when given, else the provisioning item (OrderItemID).
func CloudBlueItem(params map[string]string) string {
	if v := params["SubscrID"]; v != "" {
		return v
	}
	return params["OrderItemID"]
}
