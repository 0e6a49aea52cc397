package route

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	ingest "github.com/billrelay/billrelay/relay/ingest"
	"github.com/nats-io/nats.go"
)

// TestFailureAfterCompletionIsRegressive: once an order item's
// provisioning completed (or an override stood for it), a failure of that
// order item is flagged regressive and leaves the item's state as it was;
// a failure of another order item, or after a new provisioning cycle
// began, is a failure like any other.
func TestFailureAfterCompletionIsRegressive(t *testing.T) {
	type ev struct{ typ, applies, state, orderItem string }
	completed := ev{events.TypeProvisioningCompleted, "", "active", "5"}
	failed := ev{events.TypeProvisioningFailed, "", "failed", "5"}
	for _, c := range []struct {
		name string
		evs  []ev
		want string // flags of each event, then the item's state
	}{
		{"resubmit fails", []ev{completed, failed, {events.TypeServiceStateChanged, "", "suspended", ""}}, "[] [regressive] [] suspended"},
		{"override stood for it", []ev{{events.TypeOpsOverride, events.TypeProvisioningCompleted, "active", "5"}, failed}, "[] [regressive] active"},
		{"order item unknown", []ev{{events.TypeProvisioningCompleted, "", "active", ""}, failed}, "[] [regressive] active"},
		{"another order item", []ev{completed, {events.TypeProvisioningFailed, "", "failed", "6"}}, "[] [] failed"},
		{"new cycle", []ev{completed, {events.TypeServiceStateChanged, "", "provisioning", ""}, failed}, "[] [] [] failed"},
		{"failure first", []ev{failed, completed}, "[] [] active"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cache, k := newItemCache(), events.Key{Seller: "s", Account: "a", Item: "i"}
			var got []string
			for i, e := range c.evs {
				h := nats.Header{}
				h.Set(relay.HeaderType, e.typ)
				h.Set(relay.HeaderTime, time.Unix(int64(1000+i), 0).UTC().Format(time.RFC3339Nano))
				ingest.SetDataHeaders(h, e.typ, events.Data{State: e.state, Applies: e.applies, OrderItem: e.orderItem, StateKind: events.KindService})
				got = append(got, fmt.Sprint(cache.observe(k, stateOf(h, nil, uint64(i+1)))))
			}
			got = append(got, cache.m[k].state)
			if s := strings.Join(got, " "); s != c.want {
				t.Fatalf("got %s, want %s", s, c.want)
			}
		})
	}
}

// TestOverrideStoredBeforeTheHeaders: an override stored before the relay
// set Relay-Applies still counts as the completion it stood for.
func TestOverrideStoredBeforeTheHeaders(t *testing.T) {
	cache, k := newItemCache(), events.Key{Seller: "s", Account: "a", Item: "i"}
	h := nats.Header{}
	h.Set(relay.HeaderType, events.TypeOpsOverride)
	h.Set(relay.HeaderState, "active")
	h.Set(relay.HeaderKind, "service")
	h.Set(relay.HeaderTime, time.Unix(1000, 0).UTC().Format(time.RFC3339Nano))
	body := []byte(`{"specversion":"1.0","id":"o","source":"/billrelay/ops","type":"ops.override","seller":"s","account":"a","item":"i",` +
		`"data":{"applies":"provisioning.completed","state":"active","order_item":"5","actor":"x","reason":"y"}}`)
	cache.observe(k, stateOf(h, body, 1))
	f := nats.Header{}
	f.Set(relay.HeaderType, events.TypeProvisioningFailed)
	f.Set(relay.HeaderTime, time.Unix(1001, 0).UTC().Format(time.RFC3339Nano))
	ingest.SetDataHeaders(f, events.TypeProvisioningFailed, events.Data{State: "failed", OrderItem: "5"})
	if flags := cache.observe(k, stateOf(f, nil, 2)); fmt.Sprint(flags) != "[regressive]" {
		t.Fatalf("flags %v, want [regressive]", flags)
	}
}
