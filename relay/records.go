package relay

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/billrelay/billrelay/events"
)

// AuditEntry is one recorded admin action.
type AuditEntry struct {
	Time    time.Time      `json:"time"`
	Actor   string         `json:"actor"`
	Reason  string         `json:"reason,omitempty"`
	Action  string         `json:"action"`
	EventID string         `json:"event_id,omitempty"`
	Target  string         `json:"target,omitempty"`
	Detail  map[string]any `json:"detail,omitempty"`
}

// Destination is one delivery destination: a reseller's consumer on its
// delivery stream (status changes going down) or a seller's on ORDERS
// (orders going up).
// Webhooks, pauses and dead letters work the same for both.
type Destination struct {
	Role    Role
	ID      string
	Stream  string
	Webhook *Webhook
	Paused  bool
	// Allow is the admin's allowance for the reseller's callbacks.
	Allow []netip.Prefix
}

func (ep Destination) String() string { return fmt.Sprintf("%s %q", ep.Role, ep.ID) }

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

// Receipt actions.
const (
	ActionApplied  = "applied"
	ActionRejected = "rejected"
)

// Receipt is one settled event.
type Receipt struct {
	Stream   string     `json:"stream"`
	Consumer string     `json:"consumer"`
	Seq      uint64     `json:"seq"`
	EventID  string     `json:"event_id"`
	Type     string     `json:"type,omitempty"`
	State    string     `json:"state,omitempty"`
	Action   string     `json:"action"`
	Reason   string     `json:"reason,omitempty"`
	Time     time.Time  `json:"time"`
	Key      events.Key `json:"-"`
	// Stored is when the event was stored (for the latency figure).
	Stored time.Time `json:"-"`
}

// Seller is one registered selling platform.
type Seller struct {
	ID          string    `json:"id"`
	TokenSHA256 string    `json:"token_sha256"`
	Created     time.Time `json:"created"`
	// Webhook, when set, pushes resellers' orders to the seller.
	Webhook *Webhook `json:"webhook,omitempty"`
	// Notify says who hears about the seller's provisioning failures.
	Notify      *Notify `json:"notify,omitempty"`
	Paused      bool    `json:"paused,omitempty"`
	PauseReason string  `json:"pause_reason,omitempty"`
}

// Reseller is one registered reselling platform.
type Reseller struct {
	ID          string    `json:"id"`
	Seller      string    `json:"seller"`
	Accounts    []string  `json:"accounts"`
	TokenSHA256 string    `json:"token_sha256"`
	Created     time.Time `json:"created"`
	// Webhook, when set, makes the relay push events to the reseller.
	Webhook *Webhook `json:"webhook,omitempty"`
	// Paused stops delivery; events keep accumulating.
	Paused      bool   `json:"paused,omitempty"`
	PauseReason string `json:"pause_reason,omitempty"`
	// Stream stores the reseller's copies (see DeliveryStream): chosen at
	// registration, kept when RELAY_DELIVERY_SHARDS changes, since its
	// consumer and its pending copies live there.
	Stream string `json:"stream,omitempty"`
	// NATSBcrypt is the token hashed with bcrypt, for the user entry that
	// `billrelay nats-config` writes into an external cluster's accounts
	// (nats-server checks passwords as bcrypt, not as SHA-256).
	NATSBcrypt string `json:"nats_bcrypt,omitempty"`
	// CallbackAllow lists the prefixes the admin lets this reseller's own
	// callbacks (TMF hubs) reach besides public addresses (see
	// CallbackPolicy).
	CallbackAllow []string `json:"callback_allow,omitempty"`
}

// ResellerSpec is what a registration asks for.
type ResellerSpec struct {
	ID       string       `json:"id"`
	Seller   string       `json:"seller"`
	Accounts []string     `json:"accounts"`
	Webhook  *WebhookSpec `json:"webhook,omitempty"`
}

// Credentials are the secrets a registration hands out, once.
type Credentials struct {
	Token         string
	WebhookSecret string
}

// IsDeliveryStream reports whether name is one of the delivery streams.
func IsDeliveryStream(name string) bool {
	return name == StreamDelivery || strings.HasPrefix(name, StreamDelivery+"_")
}

// DeliveryStream is the stream that stores the reseller's copies. Records
// written before shards existed name none: they live on DELIVERY.
func (rs Reseller) DeliveryStream() string {
	if rs.Stream == "" {
		return StreamDelivery
	}
	return rs.Stream
}

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

// ReceiptSubject is where a receipt is stored; an agent reading over NATS
// publishes its receipts there.
func ReceiptSubject(rc Receipt) string {
	return ReceiptsPrefix + "." + rc.Stream + "." + rc.Consumer + "." + rc.Key.Seller + "." + rc.Key.Account + "." + rc.Key.Item
}
