package cloudblue

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
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

// TestTwoInitiatorsOneEvent: "Creation Completed" run by billing and by OA
// for the same item (Odin KB 118444) is one event.
func TestTwoInitiatorsOneEvent(t *testing.T) {
	a, err1 := Map("sell-1", Notification{Event: "Creation Completed", Account: "acc-77",
		Params: "GateID=4;IssuedSuccessfully=1;Message=by billing;OrderItemID=5561;SubscrID=1000012"}, received)
	b, err2 := Map("sell-1", Notification{Event: "Creation Completed", Account: "acc-77",
		Params: "GateID=2;IssuedSuccessfully=1;Message=by OA;OrderItemID=5561;SubscrID=1000012"}, received.Add(time.Second))
	if err1 != nil || err2 != nil || a.ID != b.ID {
		t.Fatalf("ids %q %q (%v %v), want one", a.ID, b.ID, err1, err2)
	}
}

func TestDecodeForm(t *testing.T) {
	r := httptest.NewRequest("POST", "/", bytes.NewBufferString("event=Stop+Service&params=SubscrID%3D7&account=acc-77"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	n, err := Decode(r)
	if err != nil || n.Event != "Stop Service" || n.Params != "SubscrID=7" || n.Account != "acc-77" {
		t.Fatalf("%+v, %v", n, err)
	}
}

// FuzzMap: no notification panics the mapping, and whatever maps is a
// valid catalog event.
func FuzzMap(f *testing.F) {
	f.Add("Creation Completed", "GateID=4;IssuedSuccessfully=1;OrderItemID=5;SubscrID=7", "acc-77")
	f.Add("Stop Service", "SubscrID=1.2", "acc*")
	f.Fuzz(func(t *testing.T, event, params, account string) {
		e, err := Map("sell-1", Notification{Event: event, Params: params, Account: account}, received)
		if err == nil && e.Validate() != nil {
			t.Fatalf("mapped to an invalid event: %+v", e)
		}
	})
}

// TestRecurringChangesAreDistinct: a subscription stopped, started and
// stopped again (each with its time) is three events, and the same event
// sent again is one; a resubmit that fails with another message is a new
// failure, and one that says the subscription already exists carries
// already_exists.
func TestRecurringChangesAreDistinct(t *testing.T) {
	mapped := func(n Notification) events.Event {
		t.Helper()
		n.Account = "acc-77"
		e, err := Map("sell-1", n, received)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	stop1 := mapped(Notification{Event: "Stop Service", Params: "SubscrID=7", Time: "2026-11-19T10:00:00Z"})
	start := mapped(Notification{Event: "Start Service", Params: "SubscrID=7", Time: "2026-11-19T11:00:00Z"})
	stop2 := mapped(Notification{Event: "Stop Service", Params: "SubscrID=7", Time: "2026-11-20T10:00:00Z"})
	again := mapped(Notification{Event: "Stop Service", Params: "SubscrID=7", Time: "2026-11-20T10:00:00Z"})
	if stop1.ID == stop2.ID || stop1.ID == start.ID || again.ID != stop2.ID {
		t.Fatalf("ids stop %s, start %s, stop %s, re-sent %s", stop1.ID, start.ID, stop2.ID, again.ID)
	}
	first := mapped(Notification{Event: "Creation Completed", Params: "IssuedSuccessfully=0;Message=timeout;OrderItemID=5;SubscrID=7"})
	resubmit := mapped(Notification{Event: "Creation Completed",
		Params: "IssuedSuccessfully=0;Message=error #2007 module_id #ResourceManagement, Subscription #7 already exists;OrderItemID=5;SubscrID=7"})
	if first.ID == resubmit.ID {
		t.Fatal("the failed resubmit has the first failure's id: it would never be delivered")
	}
	var d struct{ Error events.Failure }
	if err := json.Unmarshal(resubmit.Data, &d); err != nil || d.Error.Code != events.CodeAlreadyExists {
		t.Fatalf("resubmit failure %s: want code %s", resubmit.Data, events.CodeAlreadyExists)
	}
	if err := json.Unmarshal(first.Data, &d); err != nil || d.Error.Code == events.CodeAlreadyExists {
		t.Fatalf("first failure %s", first.Data)
	}
}
