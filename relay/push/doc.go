// Package push drives the ways out the relay itself delivers through: one
// webhook dispatcher per seller or reseller with a webhook (or TMF hubs)
// and not paused, following registry changes as they happen, and the taps
// adapters hold on EVENTS (failure notifications). It owns the delivery
// gates' and done marks' buckets and every webhook's circuit status, and
// tells on-call of circuits that open and close.
//
// It imports events, relay (contracts), relay/store, relay/delivery,
// relay/registry and relay/dlq (the dead-letter origin); receipts, pauses,
// ops events and the supervisor are reached through its Config.
package push
