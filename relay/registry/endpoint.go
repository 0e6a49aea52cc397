package registry

import (
	"context"

	"github.com/billrelay/billrelay/relay"
)

func ResellerEndpoint(rs relay.Reseller) relay.Destination {
	allow, _ := ParseAllow(rs.CallbackAllow) // stored canonical by SetCallbackAllow
	return relay.Destination{Role: relay.RoleReseller, ID: rs.ID, Stream: rs.DeliveryStream(), Webhook: rs.Webhook, Paused: rs.Paused, Allow: allow}
}

func SellerEndpoint(s relay.Seller) relay.Destination {
	return relay.Destination{Role: relay.RoleSeller, ID: s.ID, Stream: relay.StreamOrders, Webhook: s.Webhook, Paused: s.Paused}
}

// Endpoints lists every seller and reseller.
func (r *Registry) Endpoints() []relay.Destination {
	var out []relay.Destination
	for _, s := range r.reg.AllSellers() {
		out = append(out, SellerEndpoint(s))
	}
	for _, rs := range r.reg.AllResellers() {
		out = append(out, ResellerEndpoint(rs))
	}
	return out
}

// EndpointOf finds a registered seller or reseller.
func (r *Registry) EndpointOf(role relay.Role, id string) (relay.Destination, error) {
	if role == relay.RoleSeller {
		s, err := r.Seller(id)
		return SellerEndpoint(s), err
	}
	rs, err := r.Reseller(id)
	return ResellerEndpoint(rs), err
}

// SetState records a pause, a resume or a webhook change on the right
// kind of record.
func (r *Registry) SetState(ctx context.Context, ep relay.Destination, change func(w **relay.Webhook, paused *bool, reason *string)) (relay.Destination, error) {
	if ep.Role == relay.RoleSeller {
		s, err := r.UpdateSeller(ctx, ep.ID, func(s *relay.Seller) error {
			change(&s.Webhook, &s.Paused, &s.PauseReason)
			return nil
		})
		return SellerEndpoint(s), err
	}
	rs, err := r.UpdateReseller(ctx, ep.ID, func(rs *relay.Reseller) error {
		change(&rs.Webhook, &rs.Paused, &rs.PauseReason)
		return nil
	})
	return ResellerEndpoint(rs), err
}
