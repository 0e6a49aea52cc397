// Package jsonhook is the one shape of a platform's notification endpoint:
// a seller posts one native notification (JSON, or for some platforms a
// form with the same names), the adapter maps it to one catalog event and
// the relay ingests it. CloudBlue, BILLmanager and Emersion differ only in
// the notification type, the form reader and the mapping, so those are all
// an adapter gives; decoding and the endpoint are written once here.
//
// It may import events and the relay contracts, never another adapter.
package jsonhook

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
)

// Hook is a platform's notification endpoint for notifications of type T.
type Hook[T any] struct {
	// Pattern is the endpoint's net/http ServeMux pattern, e.g.
	// "POST /adapters/cloudblue/events".
	Pattern string
	// Form, when set, reads an application/x-www-form-urlencoded body (the
	// posted fields only). Without it every body is read as JSON.
	Form func(url.Values) T
	// Map turns the caller's notification into a catalog event; seller is
	// the caller's id and received the time the request came in.
	Map func(seller string, n T, received time.Time) (events.Event, error)
}

// Decode reads one notification from r's body. Unknown JSON fields are
// refused so that a misspelt field is named instead of silently ignored;
// every error wraps events.ErrMalformed (a 400).
func (h Hook[T]) Decode(r *http.Request) (T, error) {
	var n T
	if h.Form != nil && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		if err := r.ParseForm(); err != nil {
			return n, fmt.Errorf("%w: form: %v", events.ErrMalformed, err)
		}
		return h.Form(r.PostForm), nil
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&n); err != nil {
		return n, fmt.Errorf("%w: %v", events.ErrMalformed, err)
	}
	return n, nil
}

// Endpoint is the seller endpoint that decodes, maps and publishes one
// notification, answering 202 with the ingest results.
func (h Hook[T]) Endpoint(pub relay.Publisher) relay.Endpoint {
	return relay.IngestEndpoint(h.Pattern, pub, h.event)
}

func (h Hook[T]) event(seller string, r *http.Request, received time.Time) (events.Event, error) {
	n, err := h.Decode(r)
	if err != nil {
		return events.Event{}, err
	}
	return h.Map(seller, n, received)
}
