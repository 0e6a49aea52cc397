package node

import (
	"context"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/route"
)

// startRouter opens the router after marking the data directory as in use
// (when the derived streams sit behind the fence): a stop that is not
// clean makes the next router rewind.
func (r *Relay) startRouter(ctx, bg context.Context) error {
	_ = r.js.DeleteConsumer(ctx, relay.StreamEvents, route.ConsumerName) // the router of earlier versions read EVENTS
	unclean := false
	if r.derivedLazy() {
		var err error
		if unclean, err = r.markRunning(); err != nil {
			return err
		}
		r.marked = true
	}
	r.router = route.New(route.Config{Relay: r.cfg, Log: r.log, JS: r.js, Metrics: r.metrics,
		Dir: r, Layout: r, Consumer: route.ConsumerConfig(r.cfg), Unclean: unclean})
	return r.sup.open(ctx, bg, part{name: "router", open: r.router.Open, run: r.router.Run, vital: true})
}

// Recipients is route.Recipients.
func (r *Relay) Recipients(k events.Key) []string { return r.recipients(k) }

// HealDelivery is route.Layout.
func (r *Relay) HealDelivery(ctx context.Context) { r.healDelivery(ctx) }
