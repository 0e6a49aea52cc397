// Package receipts keeps what resellers applied and rejected. An ack or a
// term is journaled to RECEIPTS before it is sent (Journal, in atomic
// batches shared by concurrent acks); push deliveries' receipts are written
// behind them (RunWriter). It remembers what each pull handed out, so an
// ack needs no read, and filters deliveries settled just before a restart.
// The Intake takes receipts that agents publish over NATS from their own
// accounts, checks each against the stored delivery, and answers their
// consumer info requests from a cache.
//
// It imports events, relay (contracts), relay/store, relay/registry (the
// view of resellers), relay/tenancy (the intake subjects) and
// relay/metrics.
package receipts
