package httpapi

import (
	"net/http"
	"time"

	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/delivery"
	"github.com/billrelay/billrelay/relay/ops"
	"github.com/billrelay/billrelay/relay/registry"
)

type sellerRequest struct {
	ID string `json:"id"`
}

type credentials struct {
	ID            string `json:"id"`
	Token         string `json:"token"`
	WebhookSecret string `json:"webhook_secret,omitempty"`
	// Stream holds a reseller's consumer: what an agent reading over NATS
	// needs (AGENT_STREAM).
	Stream string `json:"stream,omitempty"`
}

func (s registryAPI) postSeller(w http.ResponseWriter, r *http.Request) {
	var req sellerRequest
	err := s.requireAdmin(r)
	if err == nil {
		err = decodeBody(w, r, &req)
	}
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	seller, token, err := s.dir.RegisterSeller(r.Context(), req.ID)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusCreated, credentials{ID: seller.ID, Token: token})
}

func (s registryAPI) postReseller(w http.ResponseWriter, r *http.Request) {
	var req relay.ResellerSpec
	err := s.requireAdmin(r)
	if err == nil {
		err = decodeBody(w, r, &req)
	}
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	rs, cred, err := s.dir.RegisterReseller(r.Context(), req)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusCreated, credentials{ID: rs.ID, Token: cred.Token, WebhookSecret: cred.WebhookSecret, Stream: rs.DeliveryStream()})
}

// resellerView is a registration with its lag figures, without secrets.
type resellerView struct {
	ID          string    `json:"id"`
	Seller      string    `json:"seller"`
	Accounts    []string  `json:"accounts"`
	Created     time.Time `json:"created"`
	Paused      bool      `json:"paused"`
	PauseReason string    `json:"pause_reason,omitempty"`
	Stream      string    `json:"stream"`
	// NATSBcrypt is what `billrelay nats-config` needs for the reseller's
	// user on an external NATS cluster.
	NATSBcrypt string `json:"nats_bcrypt,omitempty"`
	// CallbackAllow is what the admin lets the reseller's hubs reach.
	CallbackAllow []string `json:"callback_allow,omitempty"`
	ops.Status
	Webhook *webhookView `json:"webhook,omitempty"`
}

type webhookView struct {
	URL         string `json:"url"`
	Concurrency int    `json:"concurrency,omitempty"`
	Secrets     int    `json:"active_secrets"`
	// Circuit is the endpoint's delivery status as this relay sees it.
	Circuit *delivery.DeliveryStatus `json:"circuit,omitempty"`
}

func (s *Server) view(r *http.Request, rs relay.Reseller) (resellerView, error) {
	st, err := s.admin.ResellerStatus(r.Context(), rs.ID)
	if err != nil {
		return resellerView{}, err
	}
	return resellerView{ID: rs.ID, Seller: rs.Seller, Accounts: rs.Accounts, Created: rs.Created,
		Paused: rs.Paused, PauseReason: rs.PauseReason, Stream: rs.DeliveryStream(), NATSBcrypt: rs.NATSBcrypt,
		CallbackAllow: rs.CallbackAllow, Status: st, Webhook: s.webhookView(rs.ID, rs.Webhook)}, nil
}

// webhookView shows a webhook without its secrets (nor those its URL may
// carry: whoever reads a status is not necessarily who set the URL), with
// its circuit.
func (s *Server) webhookView(id string, w *relay.Webhook) *webhookView {
	if w == nil {
		return nil
	}
	v := &webhookView{URL: registry.RedactURL(w.URL), Concurrency: w.Concurrency, Secrets: len(w.ActiveSecrets(time.Now())),
		Circuit: &delivery.DeliveryStatus{Circuit: delivery.CircuitClosed}}
	if st, ok := s.admin.WebhookStatus(id); ok {
		v.Circuit = &st
	}
	return v
}

func (s registryAPI) getReseller(w http.ResponseWriter, r *http.Request) {
	err := s.requireAdmin(r)
	var rs relay.Reseller
	if err == nil {
		rs, err = s.dir.Reseller(r.PathValue("id"))
	}
	var v resellerView
	if err == nil {
		v, err = s.view(r, rs)
	}
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s registryAPI) listResellers(w http.ResponseWriter, r *http.Request) {
	if err := s.requireAdmin(r); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	out := []resellerView{}
	for _, rs := range s.dir.Resellers() {
		v, err := s.view(r, rs)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"resellers": out})
}
