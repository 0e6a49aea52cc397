// Package httpapi is billrelay's HTTP interface: ingest for sellers, the
// pull and ack API for resellers, the admin API, and health endpoints. Every
// error leaves through one function with one status table, so that callers
// always get {"error":{"code","message","fields"}} and internal details
// never leave the process.
package httpapi
