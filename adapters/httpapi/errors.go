package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/rs/zerolog"
)

// errorBody is the one error format of the API.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string              `json:"code"`
	Message string              `json:"message"`
	Fields  []events.FieldError `json:"fields,omitempty"`
	ErrorID string              `json:"error_id,omitempty"`
}

// kinds maps error kinds to status and code, in precedence order: who are
// you, not yours, too big, what you sent, then the server's own troubles.
var kinds = []struct {
	kind   error
	status int
	code   string
	// fixed replaces the error text when that text may carry internals.
	fixed string
}{
	{events.ErrUnauthorized, http.StatusUnauthorized, "unauthorized", ""},
	{events.ErrForbidden, http.StatusForbidden, "forbidden", ""},
	{events.ErrNotFound, http.StatusNotFound, "not_found", ""},
	{events.ErrTooLarge, http.StatusRequestEntityTooLarge, "too_large", ""},
	{events.ErrMalformed, http.StatusBadRequest, "malformed", ""},
	{events.ErrInvalid, http.StatusUnprocessableEntity, "invalid", ""},
	{events.ErrConflict, http.StatusConflict, "conflict", ""},
	{events.ErrTooMany, http.StatusTooManyRequests, "too_many", ""},
	{events.ErrStorageFull, http.StatusInsufficientStorage, "storage_full",
		"the event store is out of space; nothing of this request was stored; retry later"},
	{events.ErrUnavailable, http.StatusServiceUnavailable, "unavailable",
		"the event store is not answering; nothing of this request was acknowledged; retry later"},
}

// statusClientClosed is what the access log records for a request whose
// client left before the answer (nginx's 499); nothing is sent.
const statusClientClosed = 499

// writeError answers err in the error format. Errors of no known kind are
// internal: the caller gets only an error_id, the log gets the error. A
// request that failed because its client left (a dropped long poll) is
// not the server's error and gets no answer.
func writeError(w http.ResponseWriter, r *http.Request, log zerolog.Logger, err error) {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		log.Debug().Err(err).Str("http_path", r.URL.Path).Msg("client left before the answer")
		w.WriteHeader(statusClientClosed)
		return
	}
	for _, k := range kinds {
		if !errors.Is(err, k.kind) {
			continue
		}
		d := errorDetail{Code: k.code, Message: err.Error(), Fields: events.Fields(err)}
		if k.fixed != "" {
			d.Message, d.ErrorID = k.fixed, newErrorID()
			log.Warn().Err(err).Str("error_id", d.ErrorID).Str("http_path", r.URL.Path).Msg("request failed")
		}
		if k.status == http.StatusServiceUnavailable || k.status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
		}
		if after, ok := events.RetryAfter(err); ok {
			w.Header().Set("Retry-After", strconv.Itoa(retrySeconds(after)))
		}
		writeJSON(w, k.status, errorBody{d})
		return
	}
	id := newErrorID()
	log.Error().Err(err).Str("error_id", id).Str("http_method", r.Method).Str("http_path", r.URL.Path).Msg("internal error")
	writeJSON(w, http.StatusInternalServerError, errorBody{errorDetail{Code: "internal", Message: "internal error", ErrorID: id}})
}

// retrySeconds rounds a retry delay up to whole seconds, at least one.
func retrySeconds(d time.Duration) int {
	return max(1, int((d+time.Second-1)/time.Second))
}

// codeOf names an error's kind as the API does ("internal" if none).
func codeOf(err error) string {
	for _, k := range kinds {
		if errors.Is(err, k.kind) {
			return k.code
		}
	}
	return "internal"
}

func newErrorID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
