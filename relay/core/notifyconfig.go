package core

import (
	"context"
	"fmt"
	"net/mail"

	"github.com/billrelay/billrelay/events"
)

// Notify is who hears about a seller's provisioning failures (the
// marketplace "OfferProvisionError" notice): To the acting user named in
// the event, Cc the seller's primary contact when enabled, Bcc the extra
// addresses; as a signed webhook, and by e-mail when the relay has SMTP.
type Notify struct {
	WebhookURL     string   `json:"webhook_url,omitempty"`
	Secret         string   `json:"secret,omitempty"`
	PrimaryContact string   `json:"primary_contact,omitempty"`
	CCPrimary      bool     `json:"cc_primary"`
	Bcc            []string `json:"bcc,omitempty"`
	Email          bool     `json:"email"`
}

// SetNotify sets a seller's notification settings and returns the webhook
// signing secret (generated when a webhook is set without one).
func (r *Relay) SetNotify(ctx context.Context, seller string, n Notify) (string, error) {
	ve := &events.ValidationError{}
	if n.WebhookURL != "" {
		checkWebhook(ve, "webhook_", WebhookSpec{URL: n.WebhookURL, Secret: n.Secret}, r.AdminCallbackPolicy())
	}
	checkAddress(ve, "primary_contact", n.PrimaryContact)
	for i, a := range n.Bcc {
		checkAddress(ve, fmt.Sprintf("bcc[%d]", i), a)
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
	if _, err := r.updateSeller(ctx, seller, func(s *Seller) error { s.Notify = &n; return nil }); err != nil {
		return "", err
	}
	r.audit(ctx, AuditEntry{Action: "notify.set", Target: "seller/" + seller})
	return n.Secret, nil
}

func checkAddress(ve *events.ValidationError, field, a string) {
	if a == "" {
		return
	}
	if _, err := mail.ParseAddress(a); err != nil {
		ve.Add(field, "not an e-mail address: %q", a)
	}
}
