package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/pull"
)

type pullResponse struct {
	Events []pull.Delivery `json:"events"`
}

// longPoll is a reseller's long poll for its events (role reseller) or a
// seller's for its resellers' orders (role seller).
func (s *Server) longPoll(role relay.Role) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { s.poll(w, r, role) }
}

func (s *Server) poll(w http.ResponseWriter, r *http.Request, role relay.Role) {
	id := r.PathValue("id")
	err := s.requireSelf(r, role, id)
	var max int
	var wait time.Duration
	if err == nil {
		max, wait, err = pullParams(r)
	}
	var ds []pull.Delivery
	if err == nil {
		ds, err = s.inbox.Pull(r.Context(), role, id, max, wait)
	}
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	if ds == nil {
		ds = []pull.Delivery{}
	}
	writeJSON(w, http.StatusOK, pullResponse{Events: ds})
}

// pullParams reads max (1..1000, default 100) and wait (a duration, 0 to
// 60s; longer is capped at 60s).
func pullParams(r *http.Request) (int, time.Duration, error) {
	ve := &events.ValidationError{Kind: events.ErrMalformed}
	q := r.URL.Query()
	max := relay.DefaultPull
	if v := q.Get("max"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > relay.MaxPull {
			ve.Add("max", "expected a whole number from 1 to %d, got %q", relay.MaxPull, v)
		}
		max = n
	}
	var wait time.Duration
	if v := q.Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			ve.Add("wait", "expected a duration such as 2s or 1500ms, got %q", v)
		}
		wait = min(d, relay.MaxPullWait)
	}
	return max, wait, ve.Err()
}

// acks settles what a reseller (role reseller) or a seller pulled.
func (s *Server) acks(role relay.Role) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { s.settle(w, r, role) }
}

func (s *Server) settle(w http.ResponseWriter, r *http.Request, role relay.Role) {
	id := r.PathValue("id")
	var req pull.AckRequest
	err := s.requireSelf(r, role, id)
	if err == nil {
		err = decodeBody(w, r, &req)
	}
	var res pull.AckResult
	if err == nil {
		res, err = s.inbox.Ack(r.Context(), role, id, req)
	}
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}
