package events

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Error kinds. Every error that crosses a package boundary wraps one of these
// so that transports can map it to a status with one table and callers can
// branch with [errors.Is] instead of reading message text.
var (
	// ErrInvalid marks input that was understood but is not acceptable.
	ErrInvalid = errors.New("invalid")
	// ErrMalformed marks input that could not be parsed at all.
	ErrMalformed = errors.New("malformed")
	// ErrNotFound marks a reference to something that does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict marks a request that clashes with what is stored.
	ErrConflict = errors.New("conflict")
	// ErrUnauthorized marks a caller that could not be identified.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden marks an identified caller acting outside its rights.
	ErrForbidden = errors.New("forbidden")
	// ErrTooLarge marks a request body or batch over its limit.
	ErrTooLarge = errors.New("too large")
	// ErrUnavailable marks a temporary failure: the caller may retry.
	ErrUnavailable = errors.New("unavailable")
	// ErrStorageFull marks a store that refused a write for lack of space.
	ErrStorageFull = errors.New("storage full")
	// ErrTooMany marks a tenant past one of its bounds (a rate, a count
	// such as its hubs): that tenant alone is refused, and the message
	// names the limit.
	ErrTooMany = errors.New("too many")
)

// Throttled is an [ErrTooMany] that names the bound (as a field problem)
// and says when a retry can pass.
type Throttled struct {
	Problem *ValidationError
	After   time.Duration
}

// Throttle returns a one-field error of kind ErrTooMany with a retry delay.
func Throttle(after time.Duration, field, format string, args ...any) error {
	ve := &ValidationError{Kind: ErrTooMany}
	ve.Add(field, format, args...)
	return &Throttled{Problem: ve, After: after}
}

func (e *Throttled) Error() string { return e.Problem.Error() }

// Unwrap makes errors.Is(err, ErrTooMany) and [Fields] see the problem.
func (e *Throttled) Unwrap() error { return e.Problem }

// RetryAfter is when a throttled request can pass again.
func RetryAfter(err error) (time.Duration, bool) {
	var t *Throttled
	if errors.As(err, &t) {
		return t.After, true
	}
	return 0, false
}

// FieldError names one bad field: its JSON path, and why it is bad in words
// that say what was expected and what arrived.
type FieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Unwrap lets errors.Is(err, ErrInvalid) hold for every field error.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// ValidationError collects every field problem of one input, so that a
// sender fixes all of them in one round instead of one per request.
type ValidationError struct {
	Fields []FieldError
	// Kind is the error kind the problems add up to; nil means ErrInvalid.
	// A token publishing for another seller, say, is ErrForbidden, and still
	// names the field that gave it away.
	Kind error
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Error()
	}
	kind := "invalid input"
	if e.Kind != nil {
		kind = e.Kind.Error()
	}
	return kind + ": " + strings.Join(parts, "; ")
}

// Unwrap lets errors.Is(err, ErrInvalid) (or the set Kind) hold.
func (e *ValidationError) Unwrap() error {
	if e.Kind != nil {
		return e.Kind
	}
	return ErrInvalid
}

// Add records one field problem.
func (e *ValidationError) Add(field, format string, args ...any) {
	e.Fields = append(e.Fields, FieldError{Field: field, Reason: fmt.Sprintf(format, args...)})
}

// Err returns nil when no problem was recorded, else e itself.
func (e *ValidationError) Err() error {
	if len(e.Fields) == 0 {
		return nil
	}
	return e
}

// Prefix returns a copy whose field paths start with prefix, used to name
// the position of an event inside a batch ("[3].type").
func (e *ValidationError) Prefix(prefix string) *ValidationError {
	out := &ValidationError{Fields: make([]FieldError, len(e.Fields)), Kind: e.Kind}
	for i, f := range e.Fields {
		out.Fields[i] = FieldError{Field: joinPath(prefix, f.Field), Reason: f.Reason}
	}
	return out
}

func joinPath(prefix, field string) string {
	switch {
	case field == "":
		return prefix
	case strings.HasPrefix(field, "["):
		return prefix + field
	default:
		return prefix + "." + field
	}
}

// Invalid returns a one-field validation error.
func Invalid(field, format string, args ...any) error {
	ve := &ValidationError{}
	ve.Add(field, format, args...)
	return ve
}

// Forbidden returns a one-field error of kind ErrForbidden.
func Forbidden(field, format string, args ...any) error {
	ve := &ValidationError{Kind: ErrForbidden}
	ve.Add(field, format, args...)
	return ve
}

// Fields returns the field problems carried by err, if any.
func Fields(err error) []FieldError {
	var ve *ValidationError
	if errors.As(err, &ve) {
		return ve.Fields
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		return []FieldError{*fe}
	}
	return nil
}
