package cloudblue

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

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
