package httpapi_test

import (
	"strings"
	"testing"
)

// TestPullNamesTheBadParameter: a bad max or wait is a 400 naming the
// parameter, checked after the token and before any pull.
func TestPullNamesTheBadParameter(t *testing.T) {
	for _, tc := range []struct{ path, token, field string }{
		{"/v1/resellers/res-a/events?max=0", tokResA, "max"},
		{"/v1/resellers/res-a/events?max=1001", tokResA, "max"},
		{"/v1/resellers/res-a/events?wait=soon", tokResA, "wait"},
		{"/v1/sellers/sell-1/events?wait=-1s", tokSell1, "wait"},
	} {
		a := newAPI(t)
		w := a.do("GET", tc.path, tc.token, "")
		if e := parseError(t, w.Body.Bytes()); w.Code != 400 || len(e.Error.Fields) != 1 || e.Error.Fields[0].Field != tc.field {
			t.Errorf("%s: %d %s, want 400 naming %s", tc.path, w.Code, w.Body, tc.field)
		}
		if len(a.rec.calls) != 0 {
			t.Errorf("%s: pulled anyway: %v", tc.path, a.rec.calls)
		}
		if w := a.do("GET", tc.path, tokResB, ""); w.Code != 403 {
			t.Errorf("%s with another's token: %d, want 403 before the parameters", tc.path, w.Code)
		}
	}
}

// TestEachInboxReadsItsOwn: the reseller's route pulls and acks its
// events, the seller's its orders; an empty pull is an empty list, never
// null; a wait over 60s is capped.
func TestEachInboxReadsItsOwn(t *testing.T) {
	for _, tc := range []struct{ method, path, token, body, call, has string }{
		{"GET", "/v1/resellers/res-a/events?wait=5m", tokResA, "", "Pull res-a 100 1m0s", `{"events":[]}`},
		{"GET", "/v1/sellers/sell-1/events?max=3", tokSell1, "", "PullOrders sell-1 3 0s", `"ack_id":"ack-1"`},
		{"POST", "/v1/resellers/res-a/acks", tokResA, `{"ack":["a1","a2"],"nak":[{"ack_id":"n","delay":"1s"}],"term":[{"ack_id":"t","reason":"r"}],"progress":["p"]}`,
			"Ack res-a [a1 a2]", `"acked":2`},
		{"POST", "/v1/sellers/sell-1/acks", tokSell1, `{"ack":["o1"]}`, "AckOrders sell-1 [o1]", `"acked":1`},
	} {
		a := newAPI(t)
		w := a.do(tc.method, tc.path, tc.token, tc.body)
		if w.Code != 200 || !strings.Contains(w.Body.String(), tc.has) || strings.Join(a.rec.calls, ";") != tc.call {
			t.Errorf("%s %s: %d %s, calls %v; want %s and %s", tc.method, tc.path, w.Code, w.Body, a.rec.calls, tc.has, tc.call)
		}
	}
}
