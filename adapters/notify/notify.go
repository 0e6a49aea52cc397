// Package notify tells people about provisioning failures, the way
// marketplaces send "OfferProvisionError": To the acting user named in the
// event, Cc the seller's primary contact when enabled, Bcc configured
// addresses; as a Standard Webhooks-signed webhook carrying the recipients,
// the error summary and its details, and by e-mail when SMTP is set. It
// reads EVENTS through a relay tap, so every failure is seen at least once,
// and keeps a done mark per failure and channel, so each goes out once.
package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
)

// Notification is what the webhook carries (and the e-mail says).
type Notification struct {
	Type       string         `json:"type"`
	ID         string         `json:"id"`
	EventID    string         `json:"event_id"`
	Seller     string         `json:"seller"`
	Account    string         `json:"account"`
	Item       string         `json:"item"`
	Recipients Recipients     `json:"recipients"`
	Summary    string         `json:"summary"`
	Details    map[string]any `json:"details"`
	Time       time.Time      `json:"time"`
}

// Recipients of one notification.
type Recipients struct {
	To  []string `json:"to"`
	Cc  []string `json:"cc"`
	Bcc []string `json:"bcc"`
}

// NotificationType is the type of the webhook's payload.
const NotificationType = "notification.requested"

// failure is what a provisioning.failed event (or an override standing
// for one) says.
type failure struct {
	State     string          `json:"state"`
	Applies   string          `json:"applies"`
	Error     *events.Failure `json:"error"`
	UserEmail string          `json:"user_email"`
	User      string          `json:"user"`
	Params    map[string]any  `json:"params"`
}

// Build turns a failure event into its notification, or reports that the
// event is not a failure.
func Build(e events.Event, cfg relay.Notify) (Notification, bool) {
	var f failure
	_ = json.Unmarshal(e.Data, &f)
	if e.Type != events.TypeProvisioningFailed && !(e.Type == events.TypeOpsOverride && f.Applies == events.TypeProvisioningFailed) {
		return Notification{}, false
	}
	n := Notification{Type: NotificationType, ID: "notify-" + e.ID, EventID: e.ID, Seller: e.Seller, Account: e.Account,
		Item: e.Item, Recipients: recipients(f, cfg), Time: e.Time, Details: map[string]any{"event_type": e.Type}}
	msg := "no error message"
	if f.Error != nil {
		n.Details["error"] = f.Error
		msg = f.Error.Message
	}
	if len(f.Params) > 0 {
		n.Details["params"] = f.Params
	}
	n.Summary = fmt.Sprintf("Provisioning of item %s (account %s, seller %s) failed: %s", e.Item, e.Account, e.Seller, msg)
	return n, true
}

func recipients(f failure, cfg relay.Notify) Recipients {
	r := Recipients{To: []string{}, Cc: []string{}, Bcc: append([]string{}, cfg.Bcc...)}
	switch {
	case f.UserEmail != "":
		r.To = append(r.To, f.UserEmail)
	case strings.Contains(f.User, "@"):
		r.To = append(r.To, f.User)
	}
	if cfg.CCPrimary && cfg.PrimaryContact != "" {
		r.Cc = append(r.Cc, cfg.PrimaryContact)
	}
	return r
}

// Notifier is the tap's sink.
type Notifier struct {
	// Seller returns a seller's settings.
	Seller func(id string) (relay.Seller, error)
	// Done and MarkDone keep the once-per-failure marks.
	Done     func(ctx context.Context, key string) (bool, error)
	MarkDone func(ctx context.Context, key string) error
	// Webhook builds the sink that posts to a notification webhook.
	Webhook func(url, secret string) (relay.Sink, error)
	// Mail sends e-mail; nil when SMTP is not configured.
	Mail *Mailer
}

var _ relay.Sink = (*Notifier)(nil)

// Deliver notifies about e if it is a failure; anything else passes.
func (nt *Notifier) Deliver(ctx context.Context, m relay.Message) error {
	if m.Type != events.TypeProvisioningFailed && m.Type != events.TypeOpsOverride {
		return nil
	}
	var e events.Event
	if err := json.Unmarshal(m.Body, &e); err != nil {
		return fmt.Errorf("%w: event %s: %v", relay.ErrPermanent, m.ID, err)
	}
	s, err := nt.Seller(e.Seller)
	if err != nil || s.Notify == nil {
		return nil // nobody to tell
	}
	n, ok := Build(e, *s.Notify)
	if !ok {
		return nil
	}
	// Event ids are unique per seller only: the marks carry the seller, so
	// that one seller's notice never marks another's as sent.
	mark := e.Seller + "/" + n.ID
	if s.Notify.WebhookURL != "" {
		if err := nt.once(ctx, "webhook/"+mark, func() error { return nt.post(ctx, s.Notify, n) }); err != nil {
			return err
		}
	}
	if s.Notify.Email && nt.Mail != nil {
		return nt.once(ctx, "mail/"+mark, func() error { return nt.Mail.Send(n) })
	}
	return nil
}

// once runs send unless key is marked done, and marks it after. A crash
// between the two sends again: a duplicate, never a lost notice (the
// webhook's id lets a receiver drop it).
func (nt *Notifier) once(ctx context.Context, key string, send func() error) error {
	done, err := nt.Done(ctx, key)
	if err != nil || done {
		return err
	}
	if err := send(); err != nil {
		return err
	}
	return nt.MarkDone(ctx, key)
}

func (nt *Notifier) post(ctx context.Context, cfg *relay.Notify, n Notification) error {
	sink, err := nt.Webhook(cfg.WebhookURL, cfg.Secret)
	if err != nil {
		return err
	}
	body, _ := json.Marshal(n)
	return sink.Deliver(ctx, relay.Message{ID: n.ID, Type: NotificationType, Body: body, Attempt: 1})
}
