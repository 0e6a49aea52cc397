// Package agent is "billrelay agent": it runs beside a reselling billing
// node, takes that reseller's events from the relay (over NATS with the
// reseller's credentials, or over the HTTP pull API when only HTTP is
// reachable) and hands each to a local sink: the node's own HTTP endpoint
// or a command. It survives relay restarts and network drops: what it has
// not acked comes back, and what it holds is kept alive.
package agent
