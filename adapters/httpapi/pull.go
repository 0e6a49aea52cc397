package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
)

type pullResponse struct {
	Events []relay.Delivery `json:"events"`
}

// pullEvents is the reseller's long poll.
func (s *Server) pullEvents(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	err := s.requireSelf(r, relay.RoleReseller, id)
	var max int
	var wait time.Duration
	if err == nil {
		max, wait, err = pullParams(r)
	}
	var ds []relay.Delivery
	if err == nil {
		ds, err = s.relay.Pull(r.Context(), id, max, wait)
	}
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	if ds == nil {
		ds = []relay.Delivery{}
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

func (s *Server) postAcks(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var req relay.AckRequest
	err := s.requireSelf(r, relay.RoleReseller, id)
	if err == nil {
		err = decodeBody(w, r, &req)
	}
	var res relay.AckResult
	if err == nil {
		res, err = s.relay.Ack(r.Context(), id, req)
	}
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}
