package route

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/nats-io/nats.go"
	"github.com/synadia-io/orbit.go/jetstreamext"
)

// Flags the router puts on a copy.
const (
	FlagStale      = "stale"
	FlagRegressive = "regressive"
)

// itemState is what the seller last reported for an item.
type itemState struct {
	seq      uint64
	state    string
	kind     string
	at       time.Time
	sequence string // the CloudEvents sequence extension, when the seller sets one
	known    bool   // false: the item had no earlier event
	// typ is the event's type (for an override, the type it stands for)
	// and orderItem its order item, when the platform names one.
	typ, orderItem string
	// provisioned says that the item's provisioning completed (or an
	// override stood for that), of order item provItem ("" for any).
	provisioned bool
	provItem    string
}

// itemCache remembers each item's last reported state for the transition
// guard. A miss is filled from EVENTS itself (the item's last message
// before the batch), one request per router batch, so the cache is only a
// speed-up: its contents can always be rebuilt.
type itemCache struct {
	mu sync.Mutex
	m  map[events.Key]itemState
}

const maxItemCache = 200_000

func newItemCache() *itemCache { return &itemCache{m: map[events.Key]itemState{}} }

// stateOf reads an event's state from its headers (or its body, for
// messages stored before the relay set them).
func stateOf(h nats.Header, data []byte, seq uint64) itemState {
	st := itemState{seq: seq, state: h.Get(relay.HeaderState), kind: h.Get(relay.HeaderKind), sequence: h.Get(relay.HeaderSequence), known: true,
		typ: h.Get(relay.HeaderType), orderItem: h.Get(relay.HeaderOrderItem)}
	if a := h.Get(relay.HeaderApplies); a != "" {
		st.typ = a
	}
	st.at, _ = time.Parse(time.RFC3339Nano, h.Get(relay.HeaderTime))
	if st.state == "" && h.Get(relay.HeaderTime) == "" || st.typ == events.TypeOpsOverride {
		st.fromBody(data) // stored before the relay set these headers
	}
	st.provisioned, st.provItem = st.typ == events.TypeProvisioningCompleted, st.orderItem
	return st
}

// fromBody fills what the headers of an older message lack from the
// event itself.
func (st *itemState) fromBody(data []byte) {
	var e events.Event
	if json.Unmarshal(data, &e) != nil {
		return
	}
	d, _ := events.ParseData(e.Data)
	if st.state == "" {
		st.state, st.kind = d.State, string(d.Kind(e.Type))
	}
	if st.at.IsZero() {
		st.at = e.Time
	}
	st.typ = e.Type
	if e.Type == events.TypeOpsOverride && d.Applies != "" {
		st.typ = d.Applies
	}
	if st.orderItem == "" {
		st.orderItem = d.OrderItem
	}
}

// prefetchItems loads, for every item not in the cache, its last event:
// one request per 256 items, all at once (a batch of new items would
// otherwise wait for each round trip in turn). The router calls it before
// it stores the batch's events, when the last event of an item is the one
// before the batch: JetStream answers that from its subject index, while
// "the last up to sequence n" with later messages stored walks the stream
// back block by block for every item it has never seen.
func (r *Router) prefetchItems(ctx context.Context, keys []events.Key) {
	var missing []string
	seen := map[events.Key]bool{}
	c := r.items
	c.mu.Lock()
	for _, k := range keys {
		if _, ok := c.m[k]; !ok && !seen[k] && k.Item != "" {
			seen[k] = true
			missing = append(missing, events.EventSubject(k))
		}
	}
	c.mu.Unlock()
	var wg sync.WaitGroup
	for start := 0; start < len(missing); start += 256 {
		wg.Go(func() { r.fetchLast(ctx, missing[start:min(start+256, len(missing))]) })
	}
	wg.Wait()
	c.mu.Lock()
	for k := range seen {
		if _, ok := c.m[k]; !ok {
			c.m[k] = itemState{} // no earlier event: remember that too
		}
	}
	c.mu.Unlock()
}

func (r *Router) fetchLast(ctx context.Context, subjects []string) {
	msgs, err := jetstreamext.GetLastMsgsFor(ctx, r.js, relay.StreamEvents, subjects)
	if err != nil {
		r.log.Warn().Err(err).Msg("item states not loaded; transitions of these items go unchecked")
		return
	}
	c := r.items
	for m, err := range msgs {
		if err != nil {
			break
		}
		k, perr := events.ParseEventSubject(m.Subject)
		if perr != nil {
			continue
		}
		c.mu.Lock()
		c.m[k] = stateOf(m.Header, m.Data, m.Sequence)
		c.mu.Unlock()
	}
}

// observe checks an event against its item's last state and returns its
// flags: stale when it is older than what the seller reported before (by
// its sequence extension, else by time), regressive when its state goes
// against the lifecycle or it reports a failed provisioning of an order
// item whose provisioning completed. Neither a stale event nor such a
// failure replaces the item's state.
func (c *itemCache) observe(k events.Key, cur itemState) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	prev := c.m[k]
	if prev.seq >= cur.seq {
		prev = itemState{} // the event itself, or a later one: routed again after a crash
	}
	var flags []string
	stale := prev.known && (olderSequence(cur.sequence, prev.sequence) ||
		(cur.sequence == "" && !cur.at.IsZero() && cur.at.Before(prev.at)))
	if stale {
		flags = append(flags, FlagStale)
	}
	failedAfterSuccess := prev.known && failsCompleted(prev, cur)
	if failedAfterSuccess || prev.known && cur.state != "" && cur.kind == prev.kind && events.Regressive(events.Kind(cur.kind), prev.state, cur.state) {
		flags = append(flags, FlagRegressive)
	}
	if !stale && !failedAfterSuccess {
		c.put(k, successor(prev, cur))
	}
	return flags
}

// failsCompleted reports whether cur is a provisioning failure of an order
// item whose provisioning prev records as completed: the CloudBlue
// resubmit that fails with "#2007 … already exists" (Odin KB 131996), the
// second initiator of one "Creation Completed" (KB 118444), a stale retry
// (KB 131380). Order items count as the same when either is unknown.
func failsCompleted(prev, cur itemState) bool {
	return cur.typ == events.TypeProvisioningFailed && prev.provisioned &&
		(cur.orderItem == "" || prev.provItem == "" || cur.orderItem == prev.provItem)
}

// successor is the item's state after cur: cur's, keeping the last known
// state when cur reports none, and what prev knew of a completed
// provisioning until cur completes one or starts a new cycle
// (provisioning, terminated).
func successor(prev, cur itemState) itemState {
	if cur.state == "" {
		cur.state, cur.kind = prev.state, prev.kind
	}
	newCycle := cur.kind == string(events.KindService) && (cur.state == events.ServiceProvisioning || cur.state == events.ServiceTerminated)
	if !cur.provisioned && !newCycle {
		cur.provisioned, cur.provItem = prev.provisioned, prev.provItem
	}
	return cur
}

// olderSequence compares CloudEvents sequence values: the spec makes them
// lexicographically ordered per source; shorter numeric strings are
// compared as numbers so that unpadded counters work too.
func olderSequence(cur, prev string) bool {
	if cur == "" || prev == "" {
		return false
	}
	if len(cur) != len(prev) && isDigits(cur) && isDigits(prev) {
		return len(cur) < len(prev)
	}
	return cur < prev
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func (c *itemCache) put(k events.Key, st itemState) {
	if len(c.m) >= maxItemCache {
		n := 0
		for x := range c.m { // random order: drops an arbitrary tenth
			delete(c.m, x)
			if n++; n > maxItemCache/10 {
				break
			}
		}
	}
	c.m[k] = st
}
