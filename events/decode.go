package events

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json/jsontext"
)

// MaxBatch is the largest number of events one request may carry.
const MaxBatch = 1000

// Decode reads the body of an ingest request: one event object or a JSON
// array of them. It reports whether the body was an array, so that a caller
// can answer in the same shape. Every event is normalized (receive time
// filled in, content type set) and validated; any problem refuses the whole
// body, and the returned error names every bad field with its position
// ("[3].type"). Events are returned even with validation problems (as far
// as they could be read), so that a caller can check who may send them
// before it reports what is wrong with them.
//
// The body is read in one pass by a streaming tokenizer: ingest spends more
// CPU here than anywhere else but the store, and encoding/json validated
// each event three times over. The tokenizer also refuses what
// encoding/json lets through silently: an attribute named twice and text
// that is not UTF-8.
func Decode(body []byte, received time.Time) (evs []Event, batch bool, err error) {
	body = bytes.TrimSpace(body)
	switch {
	case len(body) == 0:
		return nil, false, fmt.Errorf("%w: empty body; expected a JSON object or array", ErrMalformed)
	case body[0] == '[':
		evs, err = decodeBatch(body, received)
		return evs, true, err
	case body[0] == '{':
		e, err := decodeOne(body, received)
		return []Event{e}, false, err
	default:
		return nil, false, fmt.Errorf("%w: expected a JSON object or array", ErrMalformed)
	}
}

func decodeBatch(body []byte, received time.Time) ([]Event, error) {
	d := jsontext.NewDecoder(bytes.NewBuffer(body))
	if _, err := d.ReadToken(); err != nil {
		return nil, malformed(err)
	}
	evs := make([]Event, 0, min(64, MaxBatch))
	all := &ValidationError{}
	for d.PeekKind() != ']' {
		if len(evs) == MaxBatch {
			return nil, fmt.Errorf("%w: more than %d events in one request", ErrTooLarge, MaxBatch)
		}
		e, err := readEvent(d, received)
		if err != nil && !errors.As(err, new(*ValidationError)) {
			return nil, malformed(err)
		}
		if err != nil {
			at := "[" + strconv.Itoa(len(evs)) + "]"
			all.Fields = append(all.Fields, (&ValidationError{Fields: Fields(err)}).Prefix(at).Fields...)
		}
		evs = append(evs, e)
	}
	if err := readEnd(d); err != nil {
		return nil, malformed(err)
	}
	if len(evs) == 0 {
		return nil, Invalid("[]", "empty batch; send at least one event")
	}
	return evs, all.Err()
}

func decodeOne(raw []byte, received time.Time) (Event, error) {
	d := jsontext.NewDecoder(bytes.NewBuffer(raw))
	e, err := readEvent(d, received)
	if err != nil && !errors.As(err, new(*ValidationError)) {
		return Event{}, malformed(err)
	}
	if endErr := readEnd(d); endErr != nil {
		return Event{}, malformed(endErr)
	}
	return e, err
}

// readEvent reads one event object, normalizes and validates it. A
// ValidationError means the JSON was fine and its content was not; any
// other error means the JSON itself is broken.
func readEvent(d *jsontext.Decoder, received time.Time) (Event, error) {
	if k := d.PeekKind(); k != '{' && k != 0 && k != ']' {
		if err := d.SkipValue(); err != nil {
			return Event{}, err
		}
		return Event{}, Invalid("", "expected a JSON object, got %s", kindName(k))
	}
	var e Event
	ve, err := e.read(d)
	if err != nil {
		return Event{}, err
	}
	e.Normalize(received)
	return e, mergeProblems(ve, e.Validate())
}

// readEnd consumes the closing bracket of a batch (if any) and checks that
// nothing follows the value.
func readEnd(d *jsontext.Decoder) error {
	if d.StackDepth() > 0 {
		if _, err := d.ReadToken(); err != nil {
			return err
		}
	}
	if _, err := d.ReadToken(); err != io.EOF {
		if err == nil {
			return errors.New("unexpected data after the JSON value")
		}
		return err
	}
	return nil
}

// malformed reports broken JSON as a sentence with the byte offset and
// no Go package names.
func malformed(err error) error {
	var se *jsontext.SyntacticError
	switch {
	case errors.As(err, &se):
		at := ""
		if se.JSONPointer != "" {
			at = " (" + string(se.JSONPointer) + ")"
		}
		return fmt.Errorf("%w: invalid JSON at byte %d%s: %s", ErrMalformed, se.ByteOffset, at, strings.TrimPrefix(se.Err.Error(), "jsontext: "))
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return fmt.Errorf("%w: invalid JSON: unexpected end of input", ErrMalformed)
	default:
		return fmt.Errorf("%w: invalid JSON: %s", ErrMalformed, strings.TrimPrefix(err.Error(), "jsontext: "))
	}
}

// mergeProblems joins type problems found while decoding with those found by
// validation, naming each field once (a number sent as id is a type problem,
// not also a missing id).
func mergeProblems(typed *ValidationError, validated error) error {
	if len(typed.Fields) == 0 {
		return validated
	}
	seen := map[string]bool{}
	for _, f := range typed.Fields {
		seen[f.Field] = true
	}
	for _, f := range Fields(validated) {
		parent, _, _ := strings.Cut(f.Field, ".")
		if !seen[f.Field] && !seen[parent] {
			typed.Fields = append(typed.Fields, f)
		}
	}
	return typed.Err()
}

// UpstreamTime reads a platform's own timestamp for field: RFC 3339, or
// empty for the zero time (which Normalize turns into the receive time).
func UpstreamTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, Invalid(field, "expected an RFC 3339 time, got %q", clip(s))
	}
	return t, nil
}

// Complete finishes an event an adapter mapped from a native notification:
// the platform's time (see [UpstreamTime]), the defaults of Normalize, and
// validation.
func (e Event) Complete(upstreamTime string, received time.Time) (Event, error) {
	t, err := UpstreamTime("time", upstreamTime)
	if err != nil {
		return Event{}, err
	}
	e.Time = t
	e.Normalize(received)
	return e, e.Validate()
}

// Normalize fills what the sender may leave out: the time defaults to the
// receive time and the content type of data to JSON.
func (e *Event) Normalize(received time.Time) {
	if e.Time.IsZero() {
		e.Time = received.UTC()
	}
	if e.DataContentType == "" && len(e.Data) > 0 {
		e.DataContentType = ContentTypeJSON
	}
}

func asErr[T error](err error, target *T) bool { return errors.As(err, target) }
