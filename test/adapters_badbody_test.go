package test

import (
	"net/http"
	"testing"
	"time"

	"github.com/billrelay/billrelay/test/harness"
)

// TestAdaptersRefuseBadBodies pins what the platform notification endpoints
// (one shared decoder since the near-copies were folded) answer to a body
// they cannot read: 400 malformed in the error format, naming what is wrong
// (a misspelt field is named, not ignored; a broken form; a form where only
// JSON is read), and nothing of it stored.
func TestAdaptersRefuseBadBodies(t *testing.T) {
	w := startShared(t)
	const form, js = "application/x-www-form-urlencoded", "application/json"
	tests := []struct {
		name, path, contentType, body, want string
	}{
		{"cloudblue unknown field", "/adapters/cloudblue/events", js, `{"event":"Stop Service","account":"acc-77","evnt":"x"}`, `unknown field "evnt"`},
		{"cloudblue broken json", "/adapters/cloudblue/events", js, `{"event":`, "unexpected EOF"},
		{"cloudblue broken form", "/adapters/cloudblue/events", form, "event=%zz", "form: "},
		{"billmanager unknown field", "/adapters/billmanager/events", js, `{"func":"service.postopen","elid":"1","account":"acc-77","fnc":1}`, `unknown field "fnc"`},
		{"billmanager broken form", "/adapters/billmanager/events", form, "func=%zz", "form: "},
		{"emersion unknown field", "/adapters/emersion/events", js, `{"kind":"order_status","account":"acc-77","item":"o-1","knd":1}`, `unknown field "knd"`},
		{"emersion wrong type", "/adapters/emersion/events", js, `{"kind":"complete_order","account":"acc-77","item":"o-1","status":"yes"}`, "cannot unmarshal string"},
		{"emersion form", "/adapters/emersion/events", form, "kind=order_status&account=acc-77&item=o-1&order_status=Completed", "invalid character"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, out := postAs(t, w.r, tc.path, tc.contentType, tc.body, w.seller)
			wantAPIError(t, status, out, http.StatusBadRequest, "malformed", tc.want)
		})
	}
	// Nothing of the refused bodies was stored: a good event after them is
	// all res-b gets.
	w.r.Publish(w.seller, harness.StateChange("after-bad-bodies", "sell-1", "acc-77", "1", "active"))
	if got := w.r.PullN("res-b", w.tb, 1, 30*time.Second); got[0].Event.ID != "after-bad-bodies" {
		t.Fatalf("res-b got %v first, want only the good event", harness.IDs(got))
	}
	if lag := w.r.ResellerLag("res-b"); lag.Pending != 0 {
		t.Fatalf("res-b lag %+v after the good event, want nothing pending", lag)
	}
}
