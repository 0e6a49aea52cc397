package node

import (
	"context"
	"fmt"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/registry"
	"github.com/billrelay/billrelay/relay/store"
	"github.com/nats-io/nats.go/jetstream"
)

// watchRegistry makes the registry on its bucket and keeps its view
// current: it returns once every record is loaded, so that the relay never
// serves with an empty view.
func (r *Relay) watchRegistry(ctx, bg context.Context) error {
	r.layout = registry.NewLayout(r.cfg, r.log, r.reg, streamsOf{r})
	r.registry = registry.New(r.cfg, r.log, r.kv, r.reg, r.layout, r.audit, r.syncConsumer)
	w := r.registry.Watch()
	return r.sup.open(ctx, bg, part{name: "registry", open: w.Open, run: w.Run, vital: true})
}

func (r *Relay) watchOwners(ctx, bg context.Context) error {
	kv, err := r.ensureBucket(ctx, jetstream.KeyValueConfig{
		Bucket: relay.BucketOwners, Description: "which reseller owns an item (learned from its orders)",
		Storage: jetstream.FileStorage, Replicas: r.cfg.Replicas, MaxBytes: store.MaxBytes(&r.cfg, relay.BucketOwners, 0),
	})
	if err != nil {
		return fmt.Errorf("provision bucket %s: %w", relay.BucketOwners, err)
	}
	r.owners = registry.NewOwners(r.cfg, r.log, kv, r.reg, r.audit)
	w := r.owners.Watch()
	return r.sup.open(ctx, bg, part{name: "owners", open: w.Open, run: w.Run, vital: true})
}

// streamsOf is the store side of registry.Streams.
type streamsOf struct{ r *Relay }

func (s streamsOf) StreamInfo(ctx context.Context, name string) (*jetstream.StreamInfo, error) {
	return s.r.streamInfo(ctx, name)
}
func (s streamsOf) DeliveryConfig(name string, subjects []string) jetstream.StreamConfig {
	return s.r.deliveryConfig(name, subjects)
}
func (s streamsOf) FitHeld(sc *jetstream.StreamConfig, info *jetstream.StreamInfo) {
	s.r.fitHeld(sc, info)
}
func (s streamsOf) EnsureStream(ctx context.Context, sc jetstream.StreamConfig) error {
	return s.r.ensureStream(ctx, sc)
}

func (r *Relay) RegisterSeller(ctx context.Context, id string) (relay.Seller, string, error) {
	return r.registry.RegisterSeller(ctx, id)
}
func (r *Relay) RegisterReseller(ctx context.Context, spec relay.ResellerSpec) (relay.Reseller, relay.Credentials, error) {
	return r.registry.RegisterReseller(ctx, spec)
}
func (r *Relay) Seller(id string) (relay.Seller, error)     { return r.registry.Seller(id) }
func (r *Relay) Reseller(id string) (relay.Reseller, error) { return r.registry.Reseller(id) }
func (r *Relay) Resellers() []relay.Reseller                { return r.registry.Resellers() }
func (r *Relay) Authenticate(token string) (relay.Principal, bool) {
	return r.registry.Authenticate(token)
}
func (r *Relay) AdminCallbackPolicy() registry.CallbackPolicy {
	return r.registry.AdminCallbackPolicy()
}
func (r *Relay) SetCallbackAllow(ctx context.Context, reseller string, cidrs []string) ([]string, error) {
	return r.registry.SetCallbackAllow(ctx, reseller, cidrs)
}
func (r *Relay) SetNotify(ctx context.Context, seller string, n relay.Notify) (string, error) {
	return r.registry.SetNotify(ctx, seller, n)
}
func (r *Relay) SetWebhook(ctx context.Context, role relay.Role, id string, spec relay.WebhookSpec) (string, error) {
	return r.registry.SetWebhook(ctx, role, id, spec)
}
func (r *Relay) RemoveWebhook(ctx context.Context, role relay.Role, id string) error {
	return r.registry.RemoveWebhook(ctx, role, id)
}
func (r *Relay) AddHub(ctx context.Context, reseller string, h relay.Hub) (relay.Hub, error) {
	return r.registry.AddHub(ctx, reseller, h)
}
func (r *Relay) RemoveHub(ctx context.Context, reseller, id string) error {
	return r.registry.RemoveHub(ctx, reseller, id)
}
func (r *Relay) SetOwner(ctx context.Context, k events.Key, reseller string) error {
	return r.owners.SetOwner(ctx, k, reseller)
}
func (r *Relay) ClearOwner(ctx context.Context, k events.Key) error {
	return r.owners.ClearOwner(ctx, k)
}
func (r *Relay) Owner(k events.Key) (string, bool) { return r.owners.Owner(k) }
func (r *Relay) learnOwner(ctx context.Context, k events.Key, reseller string) error {
	return r.owners.LearnOwner(ctx, k, reseller)
}
func (r *Relay) recipients(k events.Key) []string { return r.owners.Recipients(k) }
func (r *Relay) endpoints() []relay.Destination   { return r.registry.Endpoints() }
func (r *Relay) endpointOf(role relay.Role, id string) (relay.Destination, error) {
	return r.registry.EndpointOf(role, id)
}
func (r *Relay) setState(ctx context.Context, ep relay.Destination, change func(w **relay.Webhook, paused *bool, reason *string)) (relay.Destination, error) {
	return r.registry.SetState(ctx, ep, change)
}
func (r *Relay) provisionDelivery(ctx context.Context) error { return r.layout.ProvisionDelivery(ctx) }
func (r *Relay) healDelivery(ctx context.Context)            { r.layout.HealDelivery(ctx) }
