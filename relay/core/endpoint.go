package core

import (
	"context"

	"github.com/billrelay/billrelay/relay"
)

func resellerEndpoint(rs relay.Reseller) relay.Destination {
	allow, _ := ParseAllow(rs.CallbackAllow) // stored canonical by SetCallbackAllow
	return relay.Destination{Role: relay.RoleReseller, ID: rs.ID, Stream: rs.DeliveryStream(), Webhook: rs.Webhook, Paused: rs.Paused, Allow: allow}
}

func sellerEndpoint(s relay.Seller) relay.Destination {
	return relay.Destination{Role: relay.RoleSeller, ID: s.ID, Stream: relay.StreamOrders, Webhook: s.Webhook, Paused: s.Paused}
}

// endpoints lists every seller and reseller.
func (r *Relay) endpoints() []relay.Destination {
	var out []relay.Destination
	for _, s := range r.reg.allSellers() {
		out = append(out, sellerEndpoint(s))
	}
	for _, rs := range r.reg.allResellers() {
		out = append(out, resellerEndpoint(rs))
	}
	return out
}

// endpointOf finds a registered seller or reseller.
func (r *Relay) endpointOf(role relay.Role, id string) (relay.Destination, error) {
	if role == relay.RoleSeller {
		s, err := r.Seller(id)
		return sellerEndpoint(s), err
	}
	rs, err := r.Reseller(id)
	return resellerEndpoint(rs), err
}

// setState records a pause, a resume or a webhook change on the right
// kind of record.
func (r *Relay) setState(ctx context.Context, ep relay.Destination, change func(w **relay.Webhook, paused *bool, reason *string)) (relay.Destination, error) {
	if ep.Role == relay.RoleSeller {
		s, err := r.updateSeller(ctx, ep.ID, func(s *relay.Seller) error {
			change(&s.Webhook, &s.Paused, &s.PauseReason)
			return nil
		})
		return sellerEndpoint(s), err
	}
	rs, err := r.updateReseller(ctx, ep.ID, func(rs *relay.Reseller) error {
		change(&rs.Webhook, &rs.Paused, &rs.PauseReason)
		return nil
	})
	return resellerEndpoint(rs), err
}
