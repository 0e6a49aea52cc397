// Package node opens one relay: it starts the embedded nats-server (or
// connects to an external cluster), lays out JetStream through the store,
// makes every part in the order they depend on each other, opens each
// bounded by the caller's context, and runs the long-running ones as one
// supervised group. A part that fails is restarted with backoff and named
// by Ready meanwhile; a vital one that keeps failing is reported on Failed,
// naming it, and billrelay serve exits non-zero.
//
// Durability rests on JetStream alone: an ingest call returns only after the
// store acknowledged (and, by default, fsynced) every event; the router acks
// its input only after every copy it made was stored; a reseller's event
// stays pending until that reseller acks or terminates it.
//
// It imports every part; only adapters and cmd import it.
package node
