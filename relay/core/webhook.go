package core

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/store"
)

// Webhook is where and how the relay pushes a reseller's events.
type Webhook struct {
	URL string `json:"url"`
	// Secrets sign each request, newest first. An older secret keeps
	// signing until it expires, so that a receiver can switch at its pace.
	Secrets []WebhookSecret `json:"secrets"`
	// Concurrency is how many items are delivered in parallel.
	Concurrency int `json:"concurrency,omitempty"`
	// Format is "" for Standard Webhooks, or FormatTMF: the reseller
	// registered TMF hubs and gets TMF-shaped notifications on them.
	Format string `json:"format,omitempty"`
	Hubs   []Hub  `json:"hubs,omitempty"`
}

// FormatTMF marks a webhook made of TMF hub subscriptions.
const FormatTMF = "tmf"

// Hub is one TMF hub subscription (POST /tmf-api/{api}/v4/hub).
type Hub struct {
	ID       string    `json:"id"`
	API      string    `json:"api"`
	Callback string    `json:"callback"`
	Query    string    `json:"query,omitempty"`
	Created  time.Time `json:"created"`
	// Secret signs the hub's notifications (Standard Webhooks); generated
	// at registration and shown once. Hubs registered before signing
	// existed have none and are sent unsigned.
	Secret string `json:"secret,omitempty"`
}

// auditView is the hub as the audit trail keeps it: no secret, and the
// callback redacted.
func (h Hub) auditView() map[string]any {
	return map[string]any{"id": h.ID, "api": h.API, "callback": RedactURL(h.Callback), "query": h.Query}
}

// WebhookSecret is one Standard Webhooks signing secret (whsec_…).
type WebhookSecret struct {
	Value   string     `json:"value"`
	Expires *time.Time `json:"expires,omitempty"`
}

// ActiveSecrets lists the secrets to sign with at now, newest first.
func (w *Webhook) ActiveSecrets(now time.Time) []string {
	var out []string
	for _, s := range w.Secrets {
		if s.Expires == nil || now.Before(*s.Expires) {
			out = append(out, s.Value)
		}
	}
	return out
}

// WebhookSpec is what an admin asks for.
type WebhookSpec struct {
	URL         string `json:"url"`
	Secret      string `json:"secret,omitempty"`
	Concurrency int    `json:"concurrency,omitempty"`
}

const maxWebhookConcurrency = 256

// NewWebhookSecret returns a fresh signing secret: whsec_ and 32 random
// bytes in base64, as Standard Webhooks specifies.
func NewWebhookSecret() string {
	return "whsec_" + base64.StdEncoding.EncodeToString(randomBytes(32))
}

// checkWebhook validates spec, an admin's webhook dialled under p; prefix
// names its place in the request.
func checkWebhook(ve *events.ValidationError, prefix string, spec WebhookSpec, p CallbackPolicy) {
	checkCallback(ve, prefix+"url", spec.URL, false, p)
	if spec.Secret != "" {
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(spec.Secret, "whsec_"))
		if !strings.HasPrefix(spec.Secret, "whsec_") || err != nil || len(key) < 24 || len(key) > 64 {
			ve.Add(prefix+"secret", "expected whsec_ followed by 24 to 64 bytes in base64, or leave it out to have one generated")
		}
	}
	if spec.Concurrency < 0 || spec.Concurrency > maxWebhookConcurrency {
		ve.Add(prefix+"concurrency", "expected 1 to %d items delivered in parallel, got %d", maxWebhookConcurrency, spec.Concurrency)
	}
}

// applyWebhook sets or rotates a webhook and returns the new secret. A
// rotated-out secret keeps signing for the configured overlap.
func (r *Relay) applyWebhook(w **Webhook, spec WebhookSpec, now time.Time) string {
	secret := spec.Secret
	if secret == "" {
		secret = NewWebhookSecret()
	}
	nw := &Webhook{URL: spec.URL, Concurrency: spec.Concurrency}
	nw.Secrets = []WebhookSecret{{Value: secret}}
	if old := *w; old != nil {
		until := now.Add(r.cfg.WebhookRotation)
		for _, s := range old.Secrets {
			if s.Value == secret || (s.Expires != nil && !now.Before(*s.Expires)) {
				continue
			}
			if s.Expires == nil || s.Expires.After(until) {
				s.Expires = &until
			}
			nw.Secrets = append(nw.Secrets, s)
		}
	}
	*w = nw
	return secret
}

// SetWebhook sets or rotates the webhook of a reseller (or, for orders, a
// seller) and returns the signing secret (generated when spec has none).
// Delivery switches to push at once.
func (r *Relay) SetWebhook(ctx context.Context, role relay.Role, id string, spec WebhookSpec) (string, error) {
	ep, err := r.endpointOf(role, id)
	if err != nil {
		return "", err
	}
	ve := &events.ValidationError{}
	checkWebhook(ve, "", spec, r.callbackPolicy(ep, false))
	if err := ve.Err(); err != nil {
		return "", err
	}
	if ep.webhook != nil && ep.webhook.Format == FormatTMF {
		return "", fmt.Errorf("%w: %s receives TMF hub notifications; remove its hubs first", events.ErrConflict, ep)
	}
	var secret string
	ep, err = r.setState(ctx, ep, func(w **Webhook, _ *bool, _ *string) {
		secret = r.applyWebhook(w, spec, time.Now().UTC())
	})
	if err != nil {
		return "", fmt.Errorf("set webhook of %s: %w", ep, err)
	}
	r.audit(ctx, AuditEntry{Action: "webhook.set", Target: string(role) + "/" + id, Detail: map[string]any{"url": RedactURL(spec.URL)}})
	return secret, r.syncConsumer(ctx, ep)
}

// RemoveWebhook stops pushing; the seller or reseller pulls again.
func (r *Relay) RemoveWebhook(ctx context.Context, role relay.Role, id string) error {
	ep, err := r.endpointOf(role, id)
	if err != nil {
		return err
	}
	ep, err = r.setState(ctx, ep, func(w **Webhook, _ *bool, _ *string) { *w = nil })
	if err != nil {
		return fmt.Errorf("remove webhook of %s: %w", ep, err)
	}
	r.audit(ctx, AuditEntry{Action: "webhook.remove", Target: string(role) + "/" + id})
	return r.syncConsumer(ctx, ep)
}

// syncConsumer brings an endpoint's consumer in line with its delivery mode.
func (r *Relay) syncConsumer(ctx context.Context, ep endpoint) error {
	if _, err := r.js.CreateOrUpdateConsumer(ctx, ep.stream, r.consumerConfig(ep)); err != nil {
		return fmt.Errorf("update consumer of %s: %w", ep, store.Classify(err))
	}
	return nil
}

// AddHub subscribes a reseller's TMF callback and returns the hub with its
// signing secret. The callback is the tenant's own target: no userinfo, and
// dialled under the tenant policy (see CallbackPolicy). A reseller has at
// most MaxHubs hubs, and one delivered by a plain webhook none (one
// delivery mode at a time).
func (r *Relay) AddHub(ctx context.Context, reseller string, h Hub) (Hub, error) {
	ep, err := r.endpointOf(relay.RoleReseller, reseller)
	if err != nil {
		return Hub{}, err
	}
	ve := &events.ValidationError{}
	checkCallback(ve, "callback", h.Callback, true, r.callbackPolicy(ep, true))
	if err := ve.Err(); err != nil {
		return Hub{}, err
	}
	h.ID, h.Secret = "hub-"+hex.EncodeToString(randomBytes(8)), NewWebhookSecret()
	h.Created = time.Now().UTC()
	rs, err := r.updateReseller(ctx, reseller, func(rs *Reseller) error { return r.appendHub(rs, h) })
	if err != nil {
		return Hub{}, err
	}
	r.audit(ctx, AuditEntry{Action: "hub.add", Target: reseller, Detail: map[string]any{"hub": h.auditView()}})
	return h, r.syncConsumer(ctx, resellerEndpoint(rs))
}

// appendHub adds h to a reseller's record, inside the compare-and-set, so
// that concurrent registrations cannot pass the bound together. Over the
// bound is ErrTooMany (429), not a conflict or invalid input: the request
// is sound, the tenant is at one of its own bounds, and 429 is what every
// per-tenant bound answers.
func (r *Relay) appendHub(rs *Reseller, h Hub) error {
	if rs.Webhook == nil {
		rs.Webhook = &Webhook{Format: FormatTMF}
	}
	if rs.Webhook.Format != FormatTMF {
		return fmt.Errorf("%w: reseller %q receives Standard Webhooks; remove that webhook to use TMF hubs", events.ErrConflict, rs.ID)
	}
	if len(rs.Webhook.Hubs) >= r.cfg.MaxHubs {
		return fmt.Errorf("%w: reseller %q has %d hubs, the limit (RELAY_MAX_HUBS) is %d; delete one first", events.ErrTooMany, rs.ID, len(rs.Webhook.Hubs), r.cfg.MaxHubs)
	}
	rs.Webhook.Hubs = append(rs.Webhook.Hubs, h)
	return nil
}

// RemoveHub ends one of a reseller's TMF subscriptions; without hubs left
// the reseller pulls again.
func (r *Relay) RemoveHub(ctx context.Context, reseller, id string) error {
	ep, err := r.endpointOf(relay.RoleReseller, reseller)
	if err != nil {
		return err
	}
	if ep.webhook == nil || !slices.ContainsFunc(ep.webhook.Hubs, func(h Hub) bool { return h.ID == id }) {
		return fmt.Errorf("%w: hub %q of reseller %q", events.ErrNotFound, id, reseller)
	}
	ep, err = r.setState(ctx, ep, func(w **Webhook, _ *bool, _ *string) {
		if *w == nil {
			return
		}
		(*w).Hubs = slices.DeleteFunc((*w).Hubs, func(h Hub) bool { return h.ID == id })
		if len((*w).Hubs) == 0 {
			*w = nil
		}
	})
	if err != nil {
		return err
	}
	r.audit(ctx, AuditEntry{Action: "hub.remove", Target: reseller, Detail: map[string]any{"hub": id}})
	return r.syncConsumer(ctx, ep)
}
