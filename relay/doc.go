// Package relay holds the contracts every part of the relay and every
// adapter shares, and nothing that runs: the Sink a delivery goes to and
// the Message it gets, the adapters' Endpoint, the Principal a token
// stands for, an ingest Result, the Config, the registry's records
// (Seller, Reseller, Webhook, Hub, Destination), Receipt and AuditEntry,
// and the names of streams, buckets, subjects and headers.
//
// billrelay relays status changes from selling billing platforms to the
// resellers that must learn them: each seller publishes a change once, it
// is routed to a per-reseller subject, and each reseller reads through its
// own durable consumer, so that one reseller's ack never erases an event
// for another. The parts that do it live in the packages below this one
// (store, tenancy, registry, ingest, route, delivery, receipts, pull, push,
// dlq, ops), wired by relay/node.
//
// It imports events, nats.go (for header maps) and the standard library.
package relay
