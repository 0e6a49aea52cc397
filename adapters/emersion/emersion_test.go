package emersion

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/test/golden"
)

var received = time.Date(2026, 11, 18, 8, 20, 0, 0, time.UTC)

func TestMappingGolden(t *testing.T) {
	golden.Run(t, "testdata/golden", func(t *testing.T, _ string, in []byte) (any, error) {
		var n Notification
		if err := json.Unmarshal(in, &n); err != nil {
			t.Fatal(err)
		}
		return Map("sell-1", n, received)
	})
}

// TestOrderCompletedIsNeverFulfilled: no Emersion input maps to a
// completed order.
func TestOrderCompletedIsNeverFulfilled(t *testing.T) {
	for _, m := range events.Vocabulary {
		if m.Platform == events.PlatformEmersion && m.Kind == events.KindOrder && m.State == events.OrderCompleted {
			t.Fatalf("%q maps to completed", m.Term)
		}
	}
	ok := true
	e, err := Map("sell-1", Notification{Kind: KindCompleteOrder, Account: "a", Item: "p", Status: &ok}, received)
	if err != nil || strings.Contains(string(e.Data), `"completed"`) {
		t.Fatalf("%s, %v", e.Data, err)
	}
}

func FuzzMap(f *testing.F) {
	f.Add("complete_order", "acc-77", "p-1", "Missing credit check", "", "")
	f.Add("order_status", "acc", "p", "", "Order Completed", "")
	f.Fuzz(func(t *testing.T, kind, account, item, errStr, order, service string) {
		st := errStr == ""
		e, err := Map("sell-1", Notification{Kind: kind, Account: account, Item: item, Status: &st, Error: errStr,
			OrderStatus: order, ServiceStatus: service}, received)
		if err == nil && e.Validate() != nil {
			t.Fatalf("mapped to an invalid event: %+v", e)
		}
	})
}

// TestRepeatedStatusAtAnotherTimeIsAnotherEvent: a service Active,
// Cancelled, then Active again is three events when each has its time; the
// same notification sent again is one.
func TestRepeatedStatusAtAnotherTimeIsAnotherEvent(t *testing.T) {
	var got []string
	for _, c := range []struct{ status, at string }{
		{"Active", "2026-11-18T09:00:00Z"}, {"Cancelled", "2026-11-19T09:00:00Z"}, {"Active", "2026-11-20T09:00:00Z"}, {"Active", "2026-11-20T09:00:00Z"},
	} {
		e, err := Map("sell-1", Notification{Kind: KindServiceStatus, Account: "a", Item: "svc-1", ServiceStatus: c.status, Time: c.at}, received)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e.ID)
	}
	if got[0] == got[2] || got[0] == got[1] || got[2] != got[3] {
		t.Fatalf("ids %v: want three distinct, the re-send equal to the third", got)
	}
}
