// Package ops is what an admin and on-call do and read: pause and resume a
// destination, replay its history, reconcile what a reseller applied with
// what the seller says, publish an audited override, read a destination's
// status and lag and an item's view (Ops); and the audit trail and the
// operational events (Trail).
//
// It imports events, relay (contracts), relay/store, relay/ingest (the
// record an override is stored as) and relay/registry (the view); the
// registry, owners, ingest, consumers and dead letters are reached through
// the small interfaces in its Config.
package ops
