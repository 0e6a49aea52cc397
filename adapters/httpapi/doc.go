// Package httpapi is billrelay's HTTP interface: ingest for sellers, the
// pull and ack API for resellers, the admin API, and health endpoints. Every
// error leaves through one function with one status table, so that callers
// always get {"error":{"code","message","fields"}} and internal details
// never leave the process.
//
// It reaches the parts behind the routes only through the interfaces it
// declares in deps.go (Ingest, Inbox, Directory, Admin, Health), so that
// its handlers are tested on small fakes. It imports events, the contracts
// of package relay and the parts' packages for their request and result
// types (pull, ops, dlq, delivery, metrics), never relay/node; cmd wires
// the parts in.
package httpapi
