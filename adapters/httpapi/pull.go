package httpapi

import (
	"context"
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

// pullEvents is the reseller's long poll.
func (s *Server) pullEvents(w http.ResponseWriter, r *http.Request) {
	s.longPoll(w, r, relay.RoleReseller, s.relay.Pull)
}

// pullOrders is the seller's long poll for its resellers' orders.
func (s *Server) pullOrders(w http.ResponseWriter, r *http.Request) {
	s.longPoll(w, r, relay.RoleSeller, s.relay.PullOrders)
}

type pullFunc func(ctx context.Context, id string, max int, wait time.Duration) ([]pull.Delivery, error)

func (s *Server) longPoll(w http.ResponseWriter, r *http.Request, role relay.Role, fetch pullFunc) {
	id := r.PathValue("id")
	err := s.requireSelf(r, role, id)
	var max int
	var wait time.Duration
	if err == nil {
		max, wait, err = pullParams(r)
	}
	var ds []pull.Delivery
	if err == nil {
		ds, err = fetch(r.Context(), id, max, wait)
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

func (s *Server) postAcks(w http.ResponseWriter, r *http.Request) {
	s.settle(w, r, relay.RoleReseller, s.relay.Ack)
}

func (s *Server) ackOrders(w http.ResponseWriter, r *http.Request) {
	s.settle(w, r, relay.RoleSeller, s.relay.AckOrders)
}

type ackFunc func(ctx context.Context, id string, req pull.AckRequest) (pull.AckResult, error)

func (s *Server) settle(w http.ResponseWriter, r *http.Request, role relay.Role, ack ackFunc) {
	id := r.PathValue("id")
	var req pull.AckRequest
	err := s.requireSelf(r, role, id)
	if err == nil {
		err = decodeBody(w, r, &req)
	}
	var res pull.AckResult
	if err == nil {
		res, err = ack(r.Context(), id, req)
	}
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}
