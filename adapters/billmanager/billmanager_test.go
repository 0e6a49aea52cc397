package billmanager

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
	mp := Mapper{Statuses: DefaultStatuses}
	golden.Run(t, "testdata/golden", func(t *testing.T, _ string, in []byte) (any, error) {
		var n Notification
		if err := json.Unmarshal(in, &n); err != nil {
			t.Fatal(err)
		}
		return mp.Map("sell-1", n, received)
	})
}

func TestRetriedCallIsOneEvent(t *testing.T) {
	mp := Mapper{Statuses: DefaultStatuses}
	a, _ := mp.Map("sell-1", Notification{Func: "service.postopen", ElID: "1", Account: "a", EventID: "9"}, received)
	b, _ := mp.Map("sell-1", Notification{Func: "service.postopen", ElID: "1", Account: "a", EventID: "9"}, received.Add(time.Minute))
	if a.ID != b.ID || a.ID == "" {
		t.Fatalf("ids %q %q", a.ID, b.ID)
	}
}

func TestStatusTableIsConfigurable(t *testing.T) {
	st, err := ParseStatuses("2=active,8=suspended")
	if err != nil || st["8"] != "suspended" {
		t.Fatalf("%v, %v", st, err)
	}
	if _, err := ParseStatuses("2=running"); err == nil {
		t.Fatal("a state outside the catalog was accepted")
	}
	e, err := Mapper{Statuses: st}.Map("sell-1", Notification{ElID: "1", Account: "a", Status: "8"}, received)
	if err != nil || !bytes.Contains(e.Data, []byte(`"state":"suspended"`)) {
		t.Fatalf("%s, %v", e.Data, err)
	}
}

func TestDecodeFormKeepsOtherFieldsAsParams(t *testing.T) {
	r := httptest.NewRequest("POST", "/", bytes.NewBufferString("func=service.postsetparam&elid=16643&account=acc-77&ram=4096&token=x"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	n, err := Decode(r)
	if err != nil || n.Func != "service.postsetparam" || n.Params["ram"] != "4096" || n.Params["token"] != "" {
		t.Fatalf("%+v, %v", n, err)
	}
}

func FuzzMap(f *testing.F) {
	f.Add("service.postopen", "16643", "acc-77", "1225058", "")
	f.Add("", "1 2", "acc", "", "2")
	f.Fuzz(func(t *testing.T, fn, elid, account, eventid, status string) {
		e, err := Mapper{Statuses: DefaultStatuses}.Map("sell-1", Notification{Func: fn, ElID: elid, Account: account, EventID: eventid, Status: status}, received)
		if err == nil && e.Validate() != nil {
			t.Fatalf("mapped to an invalid event: %+v", e)
		}
	})
}

func FuzzParseStatuses(f *testing.F) {
	f.Add("1=ordered,2=active")
	f.Add("=,")
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = ParseStatuses(s)
	})
}

// TestSameTimeOtherParamsIsAnotherEvent: without eventid, two calls for
// one item at one time with different parameters are two changes.
func TestSameTimeOtherParamsIsAnotherEvent(t *testing.T) {
	mp := Mapper{Statuses: DefaultStatuses}
	n := Notification{Func: "service.postsetparam", ElID: "1", Account: "a", Time: "2026-11-20T10:00:00Z", Params: map[string]string{"ram": "4096"}}
	a, _ := mp.Map("sell-1", n, received)
	again, _ := mp.Map("sell-1", n, received.Add(time.Minute))
	n.Params = map[string]string{"ram": "8192"}
	b, _ := mp.Map("sell-1", n, received)
	if a.ID == b.ID || a.ID != again.ID {
		t.Fatalf("ids %q %q (re-sent %q)", a.ID, b.ID, again.ID)
	}
}
