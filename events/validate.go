package events

import (
	"encoding/json"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
)

// MaxTokenLen bounds ids and routing tokens: they become subject tokens,
// message ids and KV keys.
const MaxTokenLen = 128

// maxSourceLen bounds the source URI-reference.
const maxSourceLen = 1024

// Validate checks e against the catalog and returns a [ValidationError]
// naming every bad field, or nil. It expects [Event.Normalize] to have run.
func (e *Event) Validate() error {
	ve := &ValidationError{}
	if e.SpecVersion != SpecVersion {
		ve.Add("specversion", "expected %q, got %q", SpecVersion, clip(e.SpecVersion))
	}
	checkToken(ve, "id", e.ID)
	checkSource(ve, e.Source)
	checkType(ve, e.Type)
	checkToken(ve, "seller", e.Seller)
	checkToken(ve, "account", e.Account)
	checkToken(ve, "item", e.Item)
	if e.DataContentType != "" && e.DataContentType != ContentTypeJSON {
		ve.Add("datacontenttype", "expected %q, got %q", ContentTypeJSON, clip(e.DataContentType))
	}
	if KnownType(e.Type) {
		checkData(ve, e.Type, e.Data)
	}
	return ve.Err()
}

// TokenProblem says what is wrong with a value that becomes a subject
// token, message id or key, or returns "" when it is fine.
func TokenProblem(v string) string {
	switch {
	case v == "":
		return "required; must not be empty"
	case len(v) > MaxTokenLen:
		return "longer than 128 bytes"
	}
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '.' || c == '*' || c == '>':
			return "must not contain '.', '*' or '>' (got " + quoteClip(v) + ")"
		case c <= ' ' || c >= 0x7f:
			return "must contain only printable ASCII without spaces (got " + quoteClip(v) + ")"
		}
	}
	return ""
}

// NameProblem is [TokenProblem] for registry names (seller and reseller
// ids), which also become consumer names and KV keys and so are limited to
// letters, digits, '-' and '_'.
func NameProblem(v string) string {
	if p := TokenProblem(v); p != "" {
		return p
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return "must contain only letters, digits, '-' and '_' (got " + quoteClip(v) + ")"
		}
	}
	return ""
}

func quoteClip(v string) string { return `"` + clip(v) + `"` }

func checkToken(ve *ValidationError, field, v string) {
	if p := TokenProblem(v); p != "" {
		ve.Add(field, "%s", p)
	}
}

func checkSource(ve *ValidationError, v string) {
	switch {
	case v == "":
		ve.Add("source", "required; must not be empty")
	case len(v) > maxSourceLen:
		ve.Add("source", "longer than %d bytes", maxSourceLen)
	case strings.ContainsFunc(v, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		ve.Add("source", "must be a URI-reference without spaces or control characters")
	}
}

func checkType(ve *ValidationError, t string) {
	switch {
	case t == "":
		ve.Add("type", "required; expected one of %s", strings.Join(Types, ", "))
	case !KnownType(t):
		ve.Add("type", "unknown event type %q; expected one of %s", clip(t), strings.Join(Types, ", "))
	}
}

// Data holds the fields of an event's data that the relay understands and
// checks. Other fields in data are carried along untouched.
type Data struct {
	State         string `json:"state,omitempty"`
	PreviousState string `json:"previous_state,omitempty"`
	Order         string `json:"order,omitempty"`
	// OrderItem is the order (provisioning) item the event is about, when
	// the platform has one apart from the item: a failure of an order item
	// whose provisioning completed is regressive.
	OrderItem string   `json:"order_item,omitempty"`
	Message   string   `json:"message,omitempty"`
	Error     *Failure `json:"error,omitempty"`
	// StateKind says which state set State belongs to for types that do not
	// imply one (reconciliation.snapshot, ops.override): "service" or "order".
	StateKind Kind `json:"kind,omitempty"`
	// Applies is the catalog type an ops.override stands for.
	Applies string `json:"applies,omitempty"`
	Actor   string `json:"actor,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// CodeAlreadyExists is the error code of a provisioning failure that says
// the subscription or service already exists: typically a resubmit of an
// order whose provisioning did finish (CloudBlue "#2007 … already
// exists", Odin KB 131996), which nobody should resubmit again.
const CodeAlreadyExists = "already_exists"

// AlreadyExists reports whether a platform's error message says that what
// it was to create already exists.
func AlreadyExists(msg string) bool {
	return strings.Contains(strings.ToLower(msg), "already exist")
}

// Failure is the error a provisioning.failed event carries.
type Failure struct {
	Code      string `json:"code,omitempty"`
	Message   string `json:"message"`
	Retryable bool   `json:"retryable"`
}

// Kind returns the state set d's states belong to for an event of type t.
func (d Data) Kind(t string) Kind {
	if d.StateKind != "" {
		return d.StateKind
	}
	if t == TypeOpsOverride && d.Applies != "" {
		return KindOf(d.Applies)
	}
	return KindOf(t)
}

// ParseData decodes the fields of data the relay understands.
func ParseData(raw json.RawMessage) (Data, error) {
	var d Data
	if len(raw) == 0 {
		return d, nil
	}
	err := jsonv2.Unmarshal(raw, &d)
	return d, err
}

func checkData(ve *ValidationError, t string, raw json.RawMessage) {
	d, err := ParseData(raw)
	if err != nil {
		field, reason := dataProblem(err)
		ve.Add(field, "%s", reason)
		return
	}
	if d.StateKind != "" && d.StateKind != KindService && d.StateKind != KindOrder {
		ve.Add("data.kind", "expected \"service\" or \"order\", got %q", clip(string(d.StateKind)))
		return
	}
	k := d.Kind(t)
	if requiresState(t) && d.State == "" {
		ve.Add("data.state", "required for %s; expected one of %s", t, strings.Join(k.States(), ", "))
	}
	checkState(ve, "data.state", k, d.State)
	checkState(ve, "data.previous_state", k, d.PreviousState)
	checkTypeData(ve, t, d)
}

func requiresState(t string) bool {
	switch t {
	case TypeServiceStateChanged, TypeOrderStateChanged, TypeReconciliationSnapshot:
		return true
	}
	return false
}

func checkState(ve *ValidationError, field string, k Kind, s string) {
	if s != "" && !k.Valid(s) {
		ve.Add(field, "unknown %s state %q; expected one of %s", k, clip(s), strings.Join(k.States(), ", "))
	}
}

func checkTypeData(ve *ValidationError, t string, d Data) {
	switch t {
	case TypeProvisioningFailed:
		if d.Error == nil || d.Error.Message == "" {
			ve.Add("data.error", "required for %s: an object {code, message, retryable} with a non-empty message", t)
		}
	case TypeOpsOverride:
		checkOverride(ve, d)
	}
}

func checkOverride(ve *ValidationError, d Data) {
	if strings.TrimSpace(d.Actor) == "" {
		ve.Add("data.actor", "required for ops.override: who made the change")
	}
	if strings.TrimSpace(d.Reason) == "" {
		ve.Add("data.reason", "required for ops.override: why the change was made")
	}
	switch {
	case d.Applies == "":
		ve.Add("data.applies", "required for ops.override: the catalog type it stands for, e.g. %s", TypeProvisioningCompleted)
	case !KnownType(d.Applies) || d.Applies == TypeOpsOverride:
		ve.Add("data.applies", "unknown or unsuitable type %q; expected a catalog type other than ops.override", clip(d.Applies))
	case d.Applies == TypeProvisioningFailed && (d.Error == nil || d.Error.Message == ""):
		ve.Add("data.error", "required when applying provisioning.failed: an object {code, message, retryable}")
	}
}

func dataProblem(err error) (field, reason string) {
	var se *jsonv2.SemanticError
	if asErr(err, &se) && se.JSONPointer != "" && se.GoType != nil {
		field := "data" + strings.ReplaceAll(string(se.JSONPointer), "/", ".")
		return field, "expected " + goTypeWord(se.GoType.Kind().String()) + ", got " + kindName(se.JSONKind)
	}
	return "data", "invalid data: " + strings.TrimPrefix(err.Error(), "json: ")
}

func goTypeWord(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "struct", "map", "ptr":
		return "an object"
	default:
		return kind
	}
}
