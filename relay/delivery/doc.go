// Package delivery hands a reseller's (or a seller's) events to a [relay.Sink]
// one item at a time and in order, with items in parallel: the Dispatcher
// reads a [Source], retries on a backoff schedule, keeps a per-item gate so
// that later events wait behind a failed one (also across restarts, through
// a [GateStore]), opens a breaker on a failing receiver and reports the
// circuit. Sources: a JetStream consumer (ConsumerSource), one pinned to a
// relay of a priority group (GroupSource); deliverytest holds one in memory.
//
// It imports events, relay (contracts) and relay/store; never another part.
package delivery
