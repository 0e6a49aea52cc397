// Package ingest stores what sellers (and resellers' orders) publish:
// Publish authorizes every event, drops ids seen within the dedupe window,
// and hands the rest to the committer, which writes each group of waiting
// requests as one INGEST envelope (one fsync for the group). It owns the
// dedupe window, the commit queue, the envelope codec, the seller-scoped
// message ids and the bounds on resellers' orders. The router (relay/route)
// later expands each envelope.
//
// It imports events, relay (contracts), relay/store and relay/metrics; the
// registry is reached through the Directory interface.
package ingest
