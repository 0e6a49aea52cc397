package events

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/go-json-experiment/json/jsontext"
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

// MarshalJSON writes the known attributes in a fixed order, then the
// extensions sorted by name, so that the same event always encodes the same.
func (e Event) MarshalJSON() ([]byte, error) {
	return e.AppendJSON(make([]byte, 0, 256+len(e.Data)))
}

// AppendJSON appends e's JSON encoding to b. Ingest encodes every event it
// stores, so this writes the bytes directly instead of going through
// reflection; data and extensions are appended as read (validated and,
// for data, compacted).
func (e Event) AppendJSON(b []byte) ([]byte, error) {
	var err error
	field := func(name, v string, always bool) {
		if v == "" && !always {
			return
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, '"', ':')
		var qerr error
		b, qerr = jsontext.AppendQuote(b, v)
		err = cmp.Or(err, qerr)
	}
	b = append(b, '{')
	field("specversion", e.SpecVersion, true)
	field("id", e.ID, true)
	field("source", e.Source, true)
	field("type", e.Type, true)
	if !e.Time.IsZero() {
		field("time", e.Time.Format(time.RFC3339Nano), true)
	}
	field("subject", e.Subject, false)
	field("datacontenttype", e.DataContentType, false)
	field("dataschema", e.DataSchema, false)
	field("seller", e.Seller, true)
	field("account", e.Account, true)
	field("item", e.Item, true)
	if len(e.Data) > 0 {
		b, err = appendRaw(b, "data", e.Data, err)
	}
	for _, k := range slices.Sorted(mapKeys(e.Extensions)) {
		b, err = appendRaw(b, k, e.Extensions[k], err)
	}
	b = append(b, '}')
	if err != nil {
		return nil, fmt.Errorf("encode event %q: %w", e.ID, err)
	}
	return b, nil
}

// appendRaw appends a member whose value is JSON text already; text that
// is not valid JSON (an event built in code, not decoded) is an error.
func appendRaw(b []byte, name string, raw json.RawMessage, err error) ([]byte, error) {
	if !jsontext.Value(raw).IsValid() {
		err = cmp.Or(err, fmt.Errorf("%s is not valid JSON", name))
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return append(b, bytes.TrimSpace(raw)...), err
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
	d := jsontext.NewDecoder(bytes.NewBuffer(b))
	*e = Event{}
	if k := d.PeekKind(); k != '{' && k != 0 {
		return fmt.Errorf("%w: expected a JSON object, got %s", ErrMalformed, kindName(k))
	}
	ve, err := e.read(d)
	if err == nil {
		err = readEnd(d)
	}
	if err != nil {
		return malformed(err)
	}
	return ve.Err()
}

// read reads one JSON object into e, the decoder standing before it (or
// before broken JSON). Type problems of single attributes go into the
// ValidationError; broken JSON is the error.
func (e *Event) read(d *jsontext.Decoder) (*ValidationError, error) {
	if _, err := d.ReadToken(); err != nil {
		return nil, err
	}
	ve := &ValidationError{}
	for d.PeekKind() != '}' {
		name, err := d.ReadToken()
		if err != nil {
			return nil, err
		}
		if err := e.readAttr(d, name.String(), ve); err != nil {
			return nil, err
		}
	}
	_, err := d.ReadToken()
	return ve, err
}

func (e *Event) readAttr(d *jsontext.Decoder, k string, ve *ValidationError) error {
	if dst := e.stringAttr(k); dst != nil {
		return readString(d, k, dst, ve)
	}
	switch k {
	case "time":
		return e.readTime(d, ve)
	case "data":
		v, err := d.ReadValue()
		if err == nil {
			e.Data = dataValue(v, ve)
		}
		return err
	case "data_base64":
		ve.Add(k, "binary data is not accepted; send JSON in data")
		return d.SkipValue()
	}
	v, err := d.ReadValue()
	if err != nil || !validExtensionName(k) {
		ve.Add(k, "unknown attribute; extension attribute names are 1-20 lowercase letters or digits")
		return err
	}
	if e.Extensions == nil {
		e.Extensions = map[string]json.RawMessage{}
	}
	ext := jsontext.Value(bytes.Clone(v))
	_ = ext.Compact() // cannot fail: v was read as valid JSON
	e.Extensions[k] = json.RawMessage(ext)
	return nil
}

// stringAttr points at the field of a string attribute, nil for others.
func (e *Event) stringAttr(k string) *string {
	switch k {
	case "specversion":
		return &e.SpecVersion
	case "id":
		return &e.ID
	case "source":
		return &e.Source
	case "type":
		return &e.Type
	case "subject":
		return &e.Subject
	case "datacontenttype":
		return &e.DataContentType
	case "dataschema":
		return &e.DataSchema
	case "seller":
		return &e.Seller
	case "account":
		return &e.Account
	case "item":
		return &e.Item
	}
	return nil
}

func readString(d *jsontext.Decoder, field string, dst *string, ve *ValidationError) error {
	if k := d.PeekKind(); k != '"' {
		if k != 0 {
			ve.Add(field, "expected a string, got %s", kindName(k))
		}
		return d.SkipValue()
	}
	tok, err := d.ReadToken()
	*dst = tok.String()
	return err
}

func (e *Event) readTime(d *jsontext.Decoder, ve *ValidationError) error {
	var s string
	if k := d.PeekKind(); k != '"' {
		if k != 0 {
			ve.Add("time", "expected an RFC 3339 timestamp string, got %s", kindName(k))
		}
		return d.SkipValue()
	}
	if err := readString(d, "time", &s, ve); err != nil {
		return err
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		ve.Add("time", "expected an RFC 3339 timestamp such as 2026-11-18T08:15:04Z, got %q", clip(s))
	}
	e.Time = t
	return nil
}

// dataValue keeps data compacted, as one canonical form of what the
// sender wrote.
func dataValue(v jsontext.Value, ve *ValidationError) json.RawMessage {
	if v.Kind() != '{' {
		ve.Add("data", "expected a JSON object, got %s", kindName(v.Kind()))
		return nil
	}
	out := jsontext.Value(bytes.Clone(v))
	if err := out.Compact(); err != nil {
		ve.Add("data", "invalid JSON")
		return nil
	}
	return json.RawMessage(out)
}

// kindName names a JSON kind for error messages.
func kindName(k jsontext.Kind) string {
	switch k {
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
	case '0':
		return "number"
	}
	return "nothing"
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
