// Package route expands what ingest stored: each INGEST envelope becomes
// one message per event on EVENTS (or ORDERS), and each event one copy per
// recipient reseller on its delivery stream, with the stale/regressive
// flags of the item-state guard. The Router acks an envelope only once all
// of it is stored and the durability fence passed, and rewinds the last
// envelopes after an unclean stop.
//
// It imports events, relay (contracts), relay/store, relay/ingest (the
// envelope codec) and relay/metrics; the registry is reached through the
// Recipients and Layout interfaces.
package route
