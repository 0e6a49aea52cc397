package core

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/billrelay/billrelay/relay"
)

// endpoint is one delivery destination: a reseller's consumer on its
// delivery stream (status changes going down) or a seller's on ORDERS
// (orders going up).
// Webhooks, pauses and dead letters work the same for both.
type endpoint struct {
	role    relay.Role
	id      string
	stream  string
	webhook *Webhook
	paused  bool
	// allow is the admin's allowance for the reseller's callbacks.
	allow []netip.Prefix
}

func resellerEndpoint(rs Reseller) endpoint {
	allow, _ := ParseAllow(rs.CallbackAllow) // stored canonical by SetCallbackAllow
	return endpoint{role: relay.RoleReseller, id: rs.ID, stream: rs.DeliveryStream(), webhook: rs.Webhook, paused: rs.Paused, allow: allow}
}

func sellerEndpoint(s Seller) endpoint {
	return endpoint{role: relay.RoleSeller, id: s.ID, stream: relay.StreamOrders, webhook: s.Webhook, paused: s.Paused}
}

// endpoints lists every seller and reseller.
func (r *Relay) endpoints() []endpoint {
	var out []endpoint
	for _, s := range r.reg.allSellers() {
		out = append(out, sellerEndpoint(s))
	}
	for _, rs := range r.reg.allResellers() {
		out = append(out, resellerEndpoint(rs))
	}
	return out
}

// endpointOf finds a registered seller or reseller.
func (r *Relay) endpointOf(role relay.Role, id string) (endpoint, error) {
	if role == relay.RoleSeller {
		s, err := r.Seller(id)
		return sellerEndpoint(s), err
	}
	rs, err := r.Reseller(id)
	return resellerEndpoint(rs), err
}

// setState records a pause, a resume or a webhook change on the right
// kind of record.
func (r *Relay) setState(ctx context.Context, ep endpoint, change func(w **Webhook, paused *bool, reason *string)) (endpoint, error) {
	if ep.role == relay.RoleSeller {
		s, err := r.updateSeller(ctx, ep.id, func(s *Seller) error {
			change(&s.Webhook, &s.Paused, &s.PauseReason)
			return nil
		})
		return sellerEndpoint(s), err
	}
	rs, err := r.updateReseller(ctx, ep.id, func(rs *Reseller) error {
		change(&rs.Webhook, &rs.Paused, &rs.PauseReason)
		return nil
	})
	return resellerEndpoint(rs), err
}

func (ep endpoint) String() string { return fmt.Sprintf("%s %q", ep.role, ep.id) }
