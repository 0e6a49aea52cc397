package registry

import (
	"context"
	"fmt"
	"net/mail"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
)

// SetNotify sets a seller's notification settings and returns the webhook
// signing secret (generated when a webhook is set without one).
func (r *Registry) SetNotify(ctx context.Context, seller string, n relay.Notify) (string, error) {
	ve := &events.ValidationError{}
	if n.WebhookURL != "" {
		CheckWebhook(ve, "webhook_", relay.WebhookSpec{URL: n.WebhookURL, Secret: n.Secret}, r.AdminCallbackPolicy())
	}
	CheckAddress(ve, "primary_contact", n.PrimaryContact)
	for i, a := range n.Bcc {
		CheckAddress(ve, fmt.Sprintf("bcc[%d]", i), a)
	}
	if n.CCPrimary && n.PrimaryContact == "" {
		ve.Add("primary_contact", "required when cc_primary is true")
	}
	if n.WebhookURL == "" && !n.Email {
		ve.Add("webhook_url", "set a webhook_url, or email: true, or both")
	}
	if err := ve.Err(); err != nil {
		return "", err
	}
	if n.WebhookURL != "" && n.Secret == "" {
		n.Secret = NewWebhookSecret()
	}
	if _, err := r.UpdateSeller(ctx, seller, func(s *relay.Seller) error { s.Notify = &n; return nil }); err != nil {
		return "", err
	}
	r.audit(ctx, relay.AuditEntry{Action: "notify.set", Target: "seller/" + seller})
	return n.Secret, nil
}

func CheckAddress(ve *events.ValidationError, field, a string) {
	if a == "" {
		return
	}
	if _, err := mail.ParseAddress(a); err != nil {
		ve.Add(field, "not an e-mail address: %q", a)
	}
}
