package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/billrelay/billrelay/events"
)

// Sink hands one event to a receiver: a reseller's webhook, or the local
// endpoint or command an agent feeds. The dispatcher acks a message only
// after Deliver returned nil, so deliveries are at least once and receivers
// stay idempotent on Message.ID, which is the same on every attempt,
// replay and redrive.
//
// Deliver's error says what happens next: nil acks; an error wrapping
// [ErrPermanent] terminates the message and copies it to the dead letters;
// [ErrGone] pauses the reseller (events keep accumulating); a
// [*RetryAfterError] retries no sooner than it asks; anything else retries
// on the backoff schedule.
type Sink interface {
	Deliver(ctx context.Context, m Message) error
}

// Message is one delivery attempt of one event.
type Message struct {
	// ID is the event id: the idempotency key.
	ID   string
	Type string
	Key  events.Key
	// Body is the event JSON exactly as stored.
	Body json.RawMessage
	// Attempt counts deliveries of this event to this receiver, from 1.
	Attempt  int
	Replay   bool
	Redriven bool
	// Seq is the stream sequence of this copy, and Subject its subject.
	Seq     uint64
	Subject string
	// Stored is when the event was stored by ingest (for latency figures).
	Stored time.Time
	// Flags says what the relay noticed about the event: "stale" (older
	// than what the seller reported before for the item) or "regressive"
	// (a transition against the lifecycle, such as active after
	// terminated). Flagged events are delivered, never dropped.
	Flags []string
}

// State returns data.state of the event, or "".
func (m Message) State() string {
	var e struct {
		Data struct {
			State string `json:"state"`
		} `json:"data"`
	}
	_ = json.Unmarshal(m.Body, &e)
	return e.Data.State
}

var (
	// ErrPermanent marks a failure that no retry will fix (a 4xx, an
	// "unknown item" exit code).
	ErrPermanent = errors.New("permanent delivery failure")
	// ErrGone marks a receiver that said it is gone for good (HTTP 410).
	ErrGone = errors.New("receiver gone")
)

// RetryAfterError asks for the next attempt no sooner than After (HTTP
// 429/503 with Retry-After).
type RetryAfterError struct {
	After time.Duration
	Err   error
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("%v (retry after %s)", e.Err, e.After)
}

func (e *RetryAfterError) Unwrap() error { return e.Err }

// ClassifyHTTP turns a receiver's HTTP answer into a Sink result, the same
// way for every HTTP sink: 2xx delivered; 410 gone; 429 and 503 retry
// honouring Retry-After; 408, 5xx and 3xx (redirects are not followed)
// retry; any other 4xx is permanent, with the status and a body excerpt as
// the reason.
func ClassifyHTTP(status int, header http.Header, excerpt string) error {
	switch {
	case status >= 200 && status < 300:
		return nil
	case status == http.StatusGone:
		return fmt.Errorf("%w: status 410: %s", ErrGone, excerpt)
	case status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable:
		err := fmt.Errorf("status %d: %s", status, excerpt)
		if d, ok := RetryAfter(header.Get("Retry-After"), time.Now()); ok {
			return &RetryAfterError{After: d, Err: err}
		}
		return err
	case status >= 400 && status < 500 && status != http.StatusRequestTimeout:
		return fmt.Errorf("%w: status %d: %s", ErrPermanent, status, excerpt)
	default:
		return fmt.Errorf("status %d: %s", status, excerpt)
	}
}

// maxRetryAfter caps what a receiver may ask for: a day, like the
// longest step of the default schedule.
const maxRetryAfter = 24 * time.Hour

// RetryAfter reads a Retry-After header: delay seconds or an HTTP date,
// capped at a day.
func RetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
		return time.Duration(min(n, int64(maxRetryAfter/time.Second))) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(0, t.Sub(now)), maxRetryAfter), true
	}
	return 0, false
}

// Excerpt shortens a receiver's answer for a dead-letter reason.
func Excerpt(b []byte) string {
	const max = 256
	s := strings.TrimSpace(strings.ToValidUTF8(string(b), "?"))
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}

// Publisher stores events for a principal: the one thing an ingest adapter
// needs from the relay. [Relay.Publish] implements it.
type Publisher interface {
	Publish(ctx context.Context, p Principal, evs []events.Event) ([]Result, error)
}

// IngestEndpoint is a seller endpoint that reads one native notification,
// maps it to one catalog event and publishes it, answering 202 with the
// same results as POST /v1/events. toEvent gets the caller's seller id and
// the receive time.
func IngestEndpoint(pattern string, pub Publisher, toEvent func(seller string, r *http.Request, received time.Time) (events.Event, error)) Endpoint {
	return Endpoint{
		Pattern: pattern,
		Role:    RoleSeller,
		Handle: func(ctx context.Context, p Principal, r *http.Request) (int, any, error) {
			e, err := toEvent(p.ID, r, time.Now())
			if err != nil {
				return 0, nil, err
			}
			res, err := pub.Publish(ctx, p, []events.Event{e})
			if err != nil {
				return 0, nil, err
			}
			return http.StatusAccepted, map[string]any{"results": res}, nil
		},
	}
}

// Endpoint is an adapter's HTTP endpoint. The HTTP API authenticates the
// caller (bearer token, or ?token= for platforms that can only be given a
// URL), checks its role, bounds the body and writes every error in the one
// error format; the adapter only reads the request and answers.
type Endpoint struct {
	// Pattern is a net/http ServeMux pattern.
	Pattern string
	// Role the caller's token must have.
	Role Role
	// Handle answers with a status and a JSON body (nil: none).
	Handle func(ctx context.Context, p Principal, r *http.Request) (int, any, error)
}

// ResultStatus is the outcome of one published event.
type ResultStatus string

const (
	StatusAccepted  ResultStatus = "accepted"
	StatusDuplicate ResultStatus = "duplicate"
)

// Result is the outcome for one event of a publish call.
type Result struct {
	ID     string       `json:"id"`
	Status ResultStatus `json:"status"`
}

// Role is what a token lets its bearer do.
type Role string

const (
	RoleSeller   Role = "seller"
	RoleReseller Role = "reseller"
)

// Principal is an authenticated caller.
type Principal struct {
	Role Role
	ID   string
}

// Pull limits of the HTTP contract.
const (
	DefaultPull = 100
	MaxPull     = 1000
	MaxPullWait = 60 * time.Second
)

// ClipReason bounds a receiver's reason for a term (or a receipt's) to
// 512 bytes, and names one when none was given.
func ClipReason(s string) string {
	const max = 512
	if len(s) > max {
		s = s[:max]
	}
	if s == "" {
		s = "terminated by receiver"
	}
	return s
}

// DownError is Ready's answer while background parts are not running: each
// is named with the error that stopped it ("router: consumer deleted").
type DownError struct {
	Parts []string
}

func (e *DownError) Error() string { return "not running: " + strings.Join(e.Parts, "; ") }

// Unwrap makes a DownError an [events.ErrUnavailable].
func (e *DownError) Unwrap() error { return events.ErrUnavailable }

// NotificationEndpoint is an IngestEndpoint for a platform that posts one
// native notification per request: decode reads it, toEvent maps it to a
// catalog event for the calling seller.
func NotificationEndpoint[N any](pattern string, pub Publisher, decode func(*http.Request) (N, error),
	toEvent func(seller string, n N, received time.Time) (events.Event, error)) Endpoint {
	return IngestEndpoint(pattern, pub, func(seller string, r *http.Request, received time.Time) (events.Event, error) {
		n, err := decode(r)
		if err != nil {
			return events.Event{}, err
		}
		return toEvent(seller, n, received)
	})
}

// DecodeJSON reads a request body into a N, refusing unknown fields, as
// the platforms' notification bodies are read; a body that does not fit
// is ErrMalformed.
func DecodeJSON[N any](r *http.Request) (N, error) {
	var n N
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&n); err != nil {
		return n, fmt.Errorf("%w: %v", events.ErrMalformed, err)
	}
	return n, nil
}
