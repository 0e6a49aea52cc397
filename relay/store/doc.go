// Package store owns the relay's JetStream layout and the ways it is
// written and read: the streams, buckets and consumers with their share of
// the store budget (Store), the durability fence of the derived streams
// and the running marker (fence.go), ordered batched writes (Writer),
// batched scans and fetches, the KV watch behind every in-memory view,
// and the mapping of NATS and JetStream errors to the relay's kinds
// (Classify).
//
// It imports events and relay (contracts) only; every part imports it.
package store
