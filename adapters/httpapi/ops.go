package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/ops"
)

// longOp runs a long operation (replay, redrive, reconcile). A caller that
// asks for application/x-ndjson gets {"progress":n} lines while it runs
// and the result (or {"error":…}) as the last line, which is how the CLI
// draws its progress bar; anyone else gets the plain JSON answer.
func (s adminAPI) longOp(w http.ResponseWriter, r *http.Request, op func(context.Context, ops.Progress) (any, error)) {
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{}) // may run for minutes
	if !strings.Contains(r.Header.Get("Accept"), "application/x-ndjson") {
		res, err := op(r.Context(), nil)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		writeJSON(w, http.StatusOK, res)
		return
	}
	started := false
	enc := json.NewEncoder(w)
	line := func(v any) {
		if !started {
			w.Header().Set("Content-Type", "application/x-ndjson")
			w.WriteHeader(http.StatusOK)
			started = true
		}
		_ = enc.Encode(v)
		_ = http.NewResponseController(w).Flush()
	}
	last := time.Time{}
	res, err := op(r.Context(), func(done int) {
		if time.Since(last) > 200*time.Millisecond {
			line(map[string]int{"progress": done})
			last = time.Now()
		}
	})
	switch {
	case err != nil && !started:
		writeError(w, r, s.log, err)
	case err != nil:
		line(errorBody{errorDetail{Code: "failed", Message: "the operation stopped half way; see error_id in the relay log", ErrorID: s.logFailure(r, err)}})
	default:
		line(res)
	}
}

func (s adminAPI) logFailure(r *http.Request, err error) string {
	id := newErrorID()
	s.log.Error().Err(err).Str("error_id", id).Str("http_path", r.URL.Path).Msg("long operation failed")
	return id
}

func (s adminAPI) replay(w http.ResponseWriter, r *http.Request) {
	var req ops.ReplayRequest
	err := s.requireAdmin(r)
	if err == nil && r.ContentLength != 0 {
		err = decodeBody(w, r, &req)
	}
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	s.longOp(w, r, func(ctx context.Context, p ops.Progress) (any, error) {
		return s.admin.Replay(ctx, r.PathValue("id"), req, p)
	})
}

type reconcileRequest struct {
	Fix bool `json:"fix"`
}

func (s adminAPI) reconcile(w http.ResponseWriter, r *http.Request) {
	var req reconcileRequest
	err := s.requireAdmin(r)
	if err == nil && r.ContentLength != 0 {
		err = decodeBody(w, r, &req)
	}
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	s.longOp(w, r, func(ctx context.Context, p ops.Progress) (any, error) {
		return s.admin.Reconcile(ctx, r.PathValue("id"), req.Fix, p)
	})
}

// postOverride injects a manual event with actor and reason: 202 {"id"}.
func (s adminAPI) postOverride(w http.ResponseWriter, r *http.Request) {
	var o ops.Override
	err := s.requireAdmin(r)
	if err == nil {
		err = decodeBody(w, r, &o)
	}
	var id string
	var res relay.Result
	if err == nil {
		id, res, err = s.admin.PublishOverride(r.Context(), o)
	}
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	setLogEvent(r, id)
	writeJSON(w, http.StatusAccepted, map[string]string{"id": id, "status": string(res.Status)})
}

func (s adminAPI) listAudit(w http.ResponseWriter, r *http.Request) {
	err := s.requireAdmin(r)
	limit := 100
	if err == nil {
		limit, err = limitParam(r.URL.Query().Get("limit"), 10_000)
	}
	var out []relay.AuditEntry
	if err == nil {
		out, err = s.admin.Audit(r.Context(), limit)
	}
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": out})
}

func itemKey(r *http.Request) (events.Key, error) {
	k := events.Key{Seller: r.PathValue("seller"), Account: r.PathValue("account"), Item: r.PathValue("item")}
	ve := &events.ValidationError{Kind: events.ErrMalformed}
	for field, v := range map[string]string{"seller": k.Seller, "account": k.Account, "item": k.Item} {
		if p := events.TokenProblem(v); p != "" {
			ve.Add(field, "%s", p)
		}
	}
	return k, ve.Err()
}

func (s adminAPI) getItem(w http.ResponseWriter, r *http.Request) {
	err := s.requireAdmin(r)
	var k events.Key
	if err == nil {
		k, err = itemKey(r)
	}
	var v ops.ItemView
	if err == nil {
		v, err = s.admin.Item(r.Context(), k)
	}
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

type ownerRequest struct {
	Reseller string `json:"reseller"`
}

func (s adminAPI) putOwner(w http.ResponseWriter, r *http.Request) {
	var req ownerRequest
	err := s.requireAdmin(r)
	var k events.Key
	if err == nil {
		k, err = itemKey(r)
	}
	if err == nil {
		err = decodeBody(w, r, &req)
	}
	if err == nil {
		err = s.admin.SetOwner(r.Context(), k, req.Reseller)
	}
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	s.getItem(w, r)
}

func (s adminAPI) deleteOwner(w http.ResponseWriter, r *http.Request) {
	err := s.requireAdmin(r)
	var k events.Key
	if err == nil {
		k, err = itemKey(r)
	}
	if err == nil {
		err = s.admin.ClearOwner(r.Context(), k)
	}
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
