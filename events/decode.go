package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
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
	var raws []json.RawMessage
	if err := json.Unmarshal(body, &raws); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrMalformed, jsonProblem(err))
	}
	switch {
	case len(raws) == 0:
		return nil, Invalid("[]", "empty batch; send at least one event")
	case len(raws) > MaxBatch:
		return nil, fmt.Errorf("%w: %d events in one request; at most %d", ErrTooLarge, len(raws), MaxBatch)
	}
	evs := make([]Event, len(raws))
	all := &ValidationError{}
	for i, raw := range raws {
		e, err := decodeOne(raw, received)
		evs[i] = e
		if err == nil {
			continue
		}
		var ve *ValidationError
		if !errors.As(err, &ve) {
			ve = &ValidationError{Fields: []FieldError{{Reason: err.Error()}}}
		}
		all.Fields = append(all.Fields, ve.Prefix("["+strconv.Itoa(i)+"]").Fields...)
	}
	return evs, all.Err()
}

func decodeOne(raw []byte, received time.Time) (Event, error) {
	if jsonKind(raw) != "object" {
		return Event{}, Invalid("", "expected a JSON object, got %s", jsonKind(raw))
	}
	var e Event
	typeErr := json.Unmarshal(raw, &e)
	var ve *ValidationError
	if typeErr != nil && !errors.As(typeErr, &ve) {
		return Event{}, fmt.Errorf("%w: %s", ErrMalformed, jsonProblem(typeErr))
	}
	e.Normalize(received)
	return e, mergeProblems(ve, e.Validate())
}

// mergeProblems joins type problems found while decoding with those found by
// validation, naming each field once (a number sent as id is a type problem,
// not also a missing id).
func mergeProblems(typed *ValidationError, validated error) error {
	if typed == nil {
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
