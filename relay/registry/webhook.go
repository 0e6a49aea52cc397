package registry

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
)

// auditView is the hub as the audit trail keeps it: no secret, and the
// callback redacted.
func HubAuditView(h relay.Hub) map[string]any {
	return map[string]any{"id": h.ID, "api": h.API, "callback": RedactURL(h.Callback), "query": h.Query}
}

const maxWebhookConcurrency = 256

// NewWebhookSecret returns a fresh signing secret: whsec_ and 32 random
// bytes in base64, as Standard Webhooks specifies.
func NewWebhookSecret() string {
	return "whsec_" + base64.StdEncoding.EncodeToString(RandomBytes(32))
}

// CheckWebhook validates spec, an admin's webhook dialled under p; prefix
// names its place in the request.
func CheckWebhook(ve *events.ValidationError, prefix string, spec relay.WebhookSpec, p CallbackPolicy) {
	CheckCallback(ve, prefix+"url", spec.URL, false, p)
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

// ApplyWebhook sets or rotates a webhook and returns the new secret. A
// rotated-out secret keeps signing for the configured overlap.
func (r *Registry) ApplyWebhook(w **relay.Webhook, spec relay.WebhookSpec, now time.Time) string {
	secret := spec.Secret
	if secret == "" {
		secret = NewWebhookSecret()
	}
	nw := &relay.Webhook{URL: spec.URL, Concurrency: spec.Concurrency}
	nw.Secrets = []relay.WebhookSecret{{Value: secret}}
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
func (r *Registry) SetWebhook(ctx context.Context, role relay.Role, id string, spec relay.WebhookSpec) (string, error) {
	ep, err := r.EndpointOf(role, id)
	if err != nil {
		return "", err
	}
	ve := &events.ValidationError{}
	CheckWebhook(ve, "", spec, r.CallbackPolicy(ep, false))
	if err := ve.Err(); err != nil {
		return "", err
	}
	if ep.Webhook != nil && ep.Webhook.Format == relay.FormatTMF {
		return "", fmt.Errorf("%w: %s receives TMF hub notifications; remove its hubs first", events.ErrConflict, ep)
	}
	var secret string
	ep, err = r.SetState(ctx, ep, func(w **relay.Webhook, _ *bool, _ *string) {
		secret = r.ApplyWebhook(w, spec, time.Now().UTC())
	})
	if err != nil {
		return "", fmt.Errorf("set webhook of %s: %w", ep, err)
	}
	r.audit(ctx, relay.AuditEntry{Action: "webhook.set", Target: string(role) + "/" + id, Detail: map[string]any{"url": RedactURL(spec.URL)}})
	return secret, r.syncConsumer(ctx, ep)
}

// RemoveWebhook stops pushing; the seller or reseller pulls again.
func (r *Registry) RemoveWebhook(ctx context.Context, role relay.Role, id string) error {
	ep, err := r.EndpointOf(role, id)
	if err != nil {
		return err
	}
	ep, err = r.SetState(ctx, ep, func(w **relay.Webhook, _ *bool, _ *string) { *w = nil })
	if err != nil {
		return fmt.Errorf("remove webhook of %s: %w", ep, err)
	}
	r.audit(ctx, relay.AuditEntry{Action: "webhook.remove", Target: string(role) + "/" + id})
	return r.syncConsumer(ctx, ep)
}

// AddHub subscribes a reseller's TMF callback and returns the hub with its
// signing secret. The callback is the tenant's own target: no userinfo, and
// dialled under the tenant policy (see CallbackPolicy). A reseller has at
// most MaxHubs hubs, and one delivered by a plain webhook none (one
// delivery mode at a time).
func (r *Registry) AddHub(ctx context.Context, reseller string, h relay.Hub) (relay.Hub, error) {
	ep, err := r.EndpointOf(relay.RoleReseller, reseller)
	if err != nil {
		return relay.Hub{}, err
	}
	ve := &events.ValidationError{}
	CheckCallback(ve, "callback", h.Callback, true, r.CallbackPolicy(ep, true))
	if err := ve.Err(); err != nil {
		return relay.Hub{}, err
	}
	h.ID, h.Secret = "hub-"+hex.EncodeToString(RandomBytes(8)), NewWebhookSecret()
	h.Created = time.Now().UTC()
	rs, err := r.UpdateReseller(ctx, reseller, func(rs *relay.Reseller) error { return r.appendHub(rs, h) })
	if err != nil {
		return relay.Hub{}, err
	}
	r.audit(ctx, relay.AuditEntry{Action: "hub.add", Target: reseller, Detail: map[string]any{"hub": HubAuditView(h)}})
	return h, r.syncConsumer(ctx, ResellerEndpoint(rs))
}

// appendHub adds h to a reseller's record, inside the compare-and-set, so
// that concurrent registrations cannot pass the bound together. Over the
// bound is ErrTooMany (429), not a conflict or invalid input: the request
// is sound, the tenant is at one of its own bounds, and 429 is what every
// per-tenant bound answers.
func (r *Registry) appendHub(rs *relay.Reseller, h relay.Hub) error {
	if rs.Webhook == nil {
		rs.Webhook = &relay.Webhook{Format: relay.FormatTMF}
	}
	if rs.Webhook.Format != relay.FormatTMF {
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
func (r *Registry) RemoveHub(ctx context.Context, reseller, id string) error {
	ep, err := r.EndpointOf(relay.RoleReseller, reseller)
	if err != nil {
		return err
	}
	if ep.Webhook == nil || !slices.ContainsFunc(ep.Webhook.Hubs, func(h relay.Hub) bool { return h.ID == id }) {
		return fmt.Errorf("%w: hub %q of reseller %q", events.ErrNotFound, id, reseller)
	}
	ep, err = r.SetState(ctx, ep, func(w **relay.Webhook, _ *bool, _ *string) {
		if *w == nil {
			return
		}
		(*w).Hubs = slices.DeleteFunc((*w).Hubs, func(h relay.Hub) bool { return h.ID == id })
		if len((*w).Hubs) == 0 {
			*w = nil
		}
	})
	if err != nil {
		return err
	}
	r.audit(ctx, relay.AuditEntry{Action: "hub.remove", Target: reseller, Detail: map[string]any{"hub": id}})
	return r.syncConsumer(ctx, ep)
}
