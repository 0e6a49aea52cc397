package httpapi

import (
	"context"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/delivery"
	"github.com/billrelay/billrelay/relay/dlq"
	"github.com/billrelay/billrelay/relay/ops"
	"github.com/billrelay/billrelay/relay/pull"
)

// Ingest stores what sellers publish and resellers order (relay/ingest).
type Ingest interface {
	Publish(ctx context.Context, p relay.Principal, evs []events.Event) ([]relay.Result, error)
	Authorize(p relay.Principal, evs []events.Event) error
}

// Inbox hands out and settles the deliveries of a reseller (its events) or
// a seller (its orders) (relay/pull).
type Inbox interface {
	Pull(ctx context.Context, role relay.Role, id string, max int, wait time.Duration) ([]pull.Delivery, error)
	Ack(ctx context.Context, role relay.Role, id string, req pull.AckRequest) (pull.AckResult, error)
}

// Directory is who is who: tokens and registrations (relay/registry).
type Directory interface {
	Authenticate(token string) (relay.Principal, bool)
	RegisterSeller(ctx context.Context, id string) (relay.Seller, string, error)
	RegisterReseller(ctx context.Context, spec relay.ResellerSpec) (relay.Reseller, relay.Credentials, error)
	Seller(id string) (relay.Seller, error)
	Reseller(id string) (relay.Reseller, error)
	Resellers() []relay.Reseller
	SetWebhook(ctx context.Context, role relay.Role, id string, spec relay.WebhookSpec) (string, error)
	RemoveWebhook(ctx context.Context, role relay.Role, id string) error
	SetNotify(ctx context.Context, seller string, n relay.Notify) (string, error)
	SetCallbackAllow(ctx context.Context, reseller string, cidrs []string) ([]string, error)
}

// Admin is what ops do and read: pauses, replays, reconciliation,
// overrides, owners, dead letters, status and the trails (relay/ops,
// relay/dlq, relay/push, the registry's owners).
type Admin interface {
	Pause(ctx context.Context, id, reason string) error
	Resume(ctx context.Context, id string) error
	ResumeSeller(ctx context.Context, id string) error
	Replay(ctx context.Context, reseller string, q ops.ReplayRequest, progress ops.Progress) (ops.ReplayResult, error)
	Reconcile(ctx context.Context, reseller string, fix bool, progress ops.Progress) (ops.ReconcileResult, error)
	PublishOverride(ctx context.Context, o ops.Override) (string, relay.Result, error)
	ResellerStatus(ctx context.Context, id string) (ops.Status, error)
	SellerStatus(ctx context.Context, id string) (ops.Status, error)
	Item(ctx context.Context, k events.Key) (ops.ItemView, error)
	SetOwner(ctx context.Context, k events.Key, reseller string) error
	ClearOwner(ctx context.Context, k events.Key) error
	DeadLetters(ctx context.Context, reseller string, all bool, limit int) ([]dlq.DeadLetter, error)
	Redrive(ctx context.Context, reseller string, ids []string) (int, error)
	Audit(ctx context.Context, limit int) ([]relay.AuditEntry, error)
	OpsEvents(ctx context.Context, limit int) ([]ops.OpsEvent, error)
	WebhookStatus(id string) (delivery.DeliveryStatus, bool)
}

// Health says whether the relay can store and deliver (GET /readyz).
type Health interface {
	Ready(ctx context.Context) error
}
