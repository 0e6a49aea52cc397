// Package dlq keeps the dead letters: a copy of each event that ran out of
// deliveries or was terminated (once per death, whichever path reports
// it: the dispatcher, a term, an advisory, the final-delivery watch),
// lists them for ops and redrives them. Its Watcher turns the JetStream
// advisories captured in ADVISORIES into those copies, so none is lost
// while the relay is down.
//
// It imports events, relay (contracts), relay/store, relay/registry (the
// view) and relay/metrics; ops events, the audit trail and stream reads are
// funcs in its Config.
package dlq
