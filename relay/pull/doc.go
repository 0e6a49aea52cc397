// Package pull serves the pull path: Pull hands out the events of a
// reseller's consumer (or the orders of a seller's) with sealed ack ids
// that carry the hand-out time, and Ack settles them — ack, nak, term,
// progress — after journaling their receipts, so that a settle survives a
// crash. It owns the consumer handles, the work and long-poll gates, the ack
// id key, the set of settled deliveries and the watch that dead-letters a
// final delivery nobody settled.
//
// It imports events, relay (contracts), relay/store and relay/metrics; the
// receipts part, the registry and the dead letters are reached through
// the Receipts and Directory interfaces and the DeadLetter func.
package pull
