package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// SpecVersion is the only CloudEvents version accepted.
const SpecVersion = "1.0"

// ContentTypeJSON is the only data content type accepted.
const ContentTypeJSON = "application/json"

// Event is one status change: a CloudEvents 1.0 envelope in JSON structured
// mode with the routing extensions seller, account and item. It is immutable
// once stored; its ID is the idempotency key on every hop.
type Event struct {
	SpecVersion     string
	ID              string
	Source          string
	Type            string
	Time            time.Time
	Subject         string
	DataContentType string
	DataSchema      string
	Seller          string
	Account         string
	Item            string
	// Data is kept as the sender wrote it (compacted): adapters may carry
	// fields of their own next to the ones [Data] validates.
	Data json.RawMessage
	// Extensions holds every other CloudEvents extension attribute
	// (traceparent, correlationid, …) so that nothing a sender set is lost.
	Extensions map[string]json.RawMessage
}

// wire is the JSON shape of the known attributes, in the order they are
// written.
type wire struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Time            string          `json:"time,omitempty"`
	Subject         string          `json:"subject,omitempty"`
	DataContentType string          `json:"datacontenttype,omitempty"`
	DataSchema      string          `json:"dataschema,omitempty"`
	Seller          string          `json:"seller"`
	Account         string          `json:"account"`
	Item            string          `json:"item"`
	Data            json.RawMessage `json:"data,omitempty"`
}

// MarshalJSON writes the known attributes in a fixed order, then the
// extensions sorted by name, so that the same event always encodes the same.
func (e Event) MarshalJSON() ([]byte, error) {
	w := wire{
		SpecVersion: e.SpecVersion, ID: e.ID, Source: e.Source, Type: e.Type,
		Subject: e.Subject, DataContentType: e.DataContentType, DataSchema: e.DataSchema,
		Seller: e.Seller, Account: e.Account, Item: e.Item, Data: e.Data,
	}
	if !e.Time.IsZero() {
		w.Time = e.Time.Format(time.RFC3339Nano)
	}
	b, err := json.Marshal(w)
	if err != nil || len(e.Extensions) == 0 {
		return b, err
	}
	var buf bytes.Buffer
	buf.Write(b[:len(b)-1])
	for _, k := range slices.Sorted(mapKeys(e.Extensions)) {
		kb, _ := json.Marshal(k)
		buf.WriteByte(',')
		buf.Write(kb)
		buf.WriteByte(':')
		if err := json.Compact(&buf, e.Extensions[k]); err != nil {
			return nil, fmt.Errorf("encode extension %q: %w", k, err)
		}
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// UnmarshalJSON reads one event object. A well-formed object with badly
// typed attributes yields a [ValidationError] naming each of them; text that
// is not a JSON object yields an error wrapping [ErrMalformed].
func (e *Event) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("%w: %s", ErrMalformed, jsonProblem(err))
	}
	if m == nil {
		return fmt.Errorf("%w: expected a JSON object, got null", ErrMalformed)
	}
	*e = Event{}
	ve := &ValidationError{}
	for k, raw := range m {
		e.setAttr(k, raw, ve)
	}
	return ve.Err()
}

func (e *Event) setAttr(k string, raw json.RawMessage, ve *ValidationError) {
	str := map[string]*string{
		"specversion": &e.SpecVersion, "id": &e.ID, "source": &e.Source, "type": &e.Type,
		"subject": &e.Subject, "datacontenttype": &e.DataContentType, "dataschema": &e.DataSchema,
		"seller": &e.Seller, "account": &e.Account, "item": &e.Item,
	}
	switch {
	case str[k] != nil:
		decodeString(k, raw, str[k], ve)
	case k == "time":
		e.Time = decodeTime(raw, ve)
	case k == "data":
		e.Data = decodeData(raw, ve)
	case k == "data_base64":
		ve.Add(k, "binary data is not accepted; send JSON in data")
	default:
		if !validExtensionName(k) {
			ve.Add(k, "unknown attribute; extension attribute names are 1-20 lowercase letters or digits")
			return
		}
		if e.Extensions == nil {
			e.Extensions = map[string]json.RawMessage{}
		}
		e.Extensions[k] = raw
	}
}

func decodeString(field string, raw json.RawMessage, dst *string, ve *ValidationError) {
	if err := json.Unmarshal(raw, dst); err != nil {
		ve.Add(field, "expected a string, got %s", jsonKind(raw))
	}
}

func decodeTime(raw json.RawMessage, ve *ValidationError) time.Time {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		ve.Add("time", "expected an RFC 3339 timestamp string, got %s", jsonKind(raw))
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		ve.Add("time", "expected an RFC 3339 timestamp such as 2026-11-18T08:15:04Z, got %q", clip(s))
	}
	return t
}

func decodeData(raw json.RawMessage, ve *ValidationError) json.RawMessage {
	if jsonKind(raw) != "object" {
		ve.Add("data", "expected a JSON object, got %s", jsonKind(raw))
		return nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		ve.Add("data", "invalid JSON")
		return nil
	}
	return buf.Bytes()
}

// jsonKind names the JSON type of raw for error messages.
func jsonKind(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	default:
		return "number"
	}
}

func validExtensionName(k string) bool {
	if len(k) == 0 || len(k) > 20 {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// clip shortens a value quoted back in an error message so that a huge
// input never produces a huge answer.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}

// jsonProblem turns an encoding/json error into a short sentence without Go
// type names.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case asErr(err, &se):
		return fmt.Sprintf("invalid JSON at byte %d: %s", se.Offset, se.Error())
	case asErr(err, &te):
		return fmt.Sprintf("expected a JSON object, got %s", te.Value)
	default:
		return "invalid JSON: " + err.Error()
	}
}
