// Package relay owns JetStream: it starts the embedded server or connects to
// an external cluster, provisions the streams and KV buckets, keeps the
// registry of sellers and resellers, stores ingested events once, routes
// each to a per-reseller subject, and serves every reseller from its own
// durable consumer, so that one reseller's ack never erases an event for
// another.
//
// Durability rests on JetStream alone: an ingest call returns only after the
// store acknowledged (and, by default, fsynced) every event; the router acks
// its input only after every copy it made was stored; a reseller's event
// stays pending until that reseller acks or terminates it.
package node
