package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/dlq"
	"github.com/billrelay/billrelay/relay/ops"
)

type webhookAnswer struct {
	ID            string `json:"id"`
	URL           string `json:"url"`
	WebhookSecret string `json:"webhook_secret"`
}

// putWebhook sets or rotates a reseller's (or a seller's) webhook. The
// secret is returned once; a rotated-out secret keeps signing until it
// expires.
func (s registryAPI) putWebhook(role relay.Role) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { s.setWebhook(w, r, role) }
}

func (s registryAPI) setWebhook(w http.ResponseWriter, r *http.Request, role relay.Role) {
	id := r.PathValue("id")
	var spec relay.WebhookSpec
	err := s.requireAdmin(r)
	if err == nil {
		err = decodeBody(w, r, &spec)
	}
	var secret string
	if err == nil {
		secret, err = s.dir.SetWebhook(r.Context(), role, id, spec)
	}
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, webhookAnswer{ID: id, URL: spec.URL, WebhookSecret: secret})
}

func (s registryAPI) deleteWebhook(role relay.Role) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := s.requireAdmin(r)
		if err == nil {
			err = s.dir.RemoveWebhook(r.Context(), role, r.PathValue("id"))
		}
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

type pauseRequest struct {
	Reason string `json:"reason"`
}

func (s adminAPI) pause(w http.ResponseWriter, r *http.Request) {
	var req pauseRequest
	err := s.requireAdmin(r)
	if err == nil && r.ContentLength != 0 {
		err = decodeBody(w, r, &req)
	}
	if req.Reason == "" {
		req.Reason = "paused by an admin"
	}
	if err == nil {
		err = s.admin.Pause(r.Context(), r.PathValue("id"), req.Reason)
	}
	s.answerState(w, r, err)
}

func (s adminAPI) resume(w http.ResponseWriter, r *http.Request) {
	err := s.requireAdmin(r)
	if err == nil {
		err = s.admin.Resume(r.Context(), r.PathValue("id"))
	}
	s.answerState(w, r, err)
}

// answerState answers with the reseller's view after a state change.
func (s adminAPI) answerState(w http.ResponseWriter, r *http.Request, err error) {
	var v resellerView
	if err == nil {
		var rs relay.Reseller
		if rs, err = s.dir.Reseller(r.PathValue("id")); err == nil {
			v, err = s.view(r, rs)
		}
	}
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s adminAPI) listDLQ(w http.ResponseWriter, r *http.Request) {
	err := s.requireAdmin(r)
	q := r.URL.Query()
	limit := 100
	if err == nil {
		limit, err = limitParam(q.Get("limit"), dlq.MaxDLQList)
	}
	var out []dlq.DeadLetter
	if err == nil {
		out, err = s.admin.DeadLetters(r.Context(), q.Get("reseller"), q.Get("all") == "true", limit)
	}
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": out})
}

type redriveRequest struct {
	Reseller string   `json:"reseller"`
	IDs      []string `json:"ids"`
}

func (s adminAPI) redrive(w http.ResponseWriter, r *http.Request) {
	var req redriveRequest
	err := s.requireAdmin(r)
	if err == nil {
		err = decodeBody(w, r, &req)
	}
	if err == nil && req.Reseller == "" {
		err = events.Invalid("reseller", "required; redrive sends dead letters back to one reseller")
	}
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	s.longOp(w, r, func(ctx context.Context, _ ops.Progress) (any, error) {
		n, err := s.admin.Redrive(ctx, req.Reseller, req.IDs)
		return map[string]int{"redriven": n}, err
	})
}

func (s adminAPI) opsEvents(w http.ResponseWriter, r *http.Request) {
	err := s.requireAdmin(r)
	limit := 100
	if err == nil {
		limit, err = limitParam(r.URL.Query().Get("limit"), 10_000)
	}
	var out []ops.OpsEvent
	if err == nil {
		out, err = s.admin.OpsEvents(r.Context(), limit)
	}
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": out})
}

func limitParam(v string, max int) (int, error) {
	if v == "" {
		return min(100, max), nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		return 0, &events.ValidationError{Kind: events.ErrMalformed,
			Fields: []events.FieldError{{Field: "limit", Reason: "expected a whole number from 1 to " + strconv.Itoa(max)}}}
	}
	return n, nil
}

func (s adminAPI) resumeSeller(w http.ResponseWriter, r *http.Request) {
	err := s.requireAdmin(r)
	if err == nil {
		err = s.admin.ResumeSeller(r.Context(), r.PathValue("id"))
	}
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	s.writeSeller(w, r)
}

type sellerView struct {
	ID          string    `json:"id"`
	Created     time.Time `json:"created"`
	Paused      bool      `json:"paused"`
	PauseReason string    `json:"pause_reason,omitempty"`
	ops.Status
	Webhook *webhookView `json:"webhook,omitempty"`
}

// getSeller shows a seller and where the orders to it stand.
func (s registryAPI) getSeller(w http.ResponseWriter, r *http.Request) {
	if err := s.requireAdmin(r); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	s.writeSeller(w, r)
}

func (s *Server) writeSeller(w http.ResponseWriter, r *http.Request) {
	sl, err := s.dir.Seller(r.PathValue("id"))
	var st ops.Status
	if err == nil {
		st, err = s.admin.SellerStatus(r.Context(), sl.ID)
	}
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, sellerView{ID: sl.ID, Created: sl.Created, Paused: sl.Paused,
		PauseReason: sl.PauseReason, Status: st, Webhook: s.webhookView(sl.ID, sl.Webhook)})
}

// putNotify sets who hears about a seller's provisioning failures.
func (s registryAPI) putNotify(w http.ResponseWriter, r *http.Request) {
	var n relay.Notify
	err := s.requireAdmin(r)
	if err == nil {
		err = decodeBody(w, r, &n)
	}
	var secret string
	if err == nil {
		secret, err = s.dir.SetNotify(r.Context(), r.PathValue("id"), n)
	}
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": r.PathValue("id"), "webhook_secret": secret})
}

type callbackAllow struct {
	CIDRs *[]string `json:"cidrs"`
}

// putCallbackAllow sets the private prefixes a reseller's own callbacks
// (TMF hubs) may reach; [] removes the allowance.
func (s registryAPI) putCallbackAllow(w http.ResponseWriter, r *http.Request) {
	var req callbackAllow
	err := s.requireAdmin(r)
	if err == nil {
		err = decodeBody(w, r, &req)
	}
	if err == nil && req.CIDRs == nil {
		err = events.Invalid("cidrs", "required: a list of CIDR prefixes such as 10.20.0.0/16; [] removes the allowance")
	}
	var cidrs []string
	if err == nil {
		cidrs, err = s.dir.SetCallbackAllow(r.Context(), r.PathValue("id"), *req.CIDRs)
	}
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": r.PathValue("id"), "cidrs": cidrs})
}
