package test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/billrelay/billrelay/test/harness"
)

// TestPlatformAdaptersEndToEnd posts each platform's native notification
// to the real relay and checks what the resellers receive.
func TestPlatformAdaptersEndToEnd(t *testing.T) {
	w := startShared(t)
	cases := []struct {
		path, contentType, body string
		wantType, wantItem      string
	}{
		{"/adapters/cloudblue/events", "application/json",
			`{"event":"Creation Completed","params":"GateID=4;IssuedSuccessfully=1;Message=Done;OrderItemID=5561;SubscrID=1000012","account":"acc-77"}`,
			"provisioning.completed", "1000012"},
		{"/adapters/cloudblue/events", "application/json",
			`{"event":"Creation Completed","params":"GateID=2;IssuedSuccessfully=1;Message=by OA;OrderItemID=5561;SubscrID=1000012","account":"acc-77"}`,
			"", ""}, // the second initiator: a duplicate, not delivered again
		{"/adapters/billmanager/events", "application/x-www-form-urlencoded",
			"func=service.postsuspend&elid=16643&account=acc-77&eventid=1225101",
			"service.state_changed", "16643"},
		{"/adapters/emersion/events", "application/json",
			`{"kind":"complete_order","account":"acc-77","item":"presale-1","status":false,"error":"Missing credit check"}`,
			"provisioning.failed", "presale-1"},
	}
	var want []string
	for _, tc := range cases {
		status, out := postAs(t, w.r, tc.path, tc.contentType, tc.body, w.seller)
		if status != http.StatusAccepted {
			t.Fatalf("%s: %d %s", tc.path, status, out)
		}
		if tc.wantType != "" {
			want = append(want, tc.wantType+"/"+tc.wantItem)
		} else if !strings.Contains(out, `"duplicate"`) {
			t.Fatalf("second Creation Completed answered %s, want duplicate", out)
		}
	}
	got := w.r.PullN("res-b", w.tb, len(want), 30*time.Second)
	var seen []string
	for _, d := range got {
		seen = append(seen, d.Event.Type+"/"+d.Event.Item)
	}
	if strings.Join(seen, " ") != strings.Join(want, " ") {
		t.Fatalf("res-b got %v, want %v", seen, want)
	}
	if extra := w.r.Pull("res-b", w.tb, 10, 500*time.Millisecond); len(extra) != 0 {
		t.Fatalf("extra deliveries %v", harness.IDs(extra))
	}
	var failed map[string]any
	_ = json.Unmarshal(got[2].Event.Data, &failed)
	if e := failed["error"].(map[string]any); e["message"] != "Missing credit check" || e["retryable"] != false {
		t.Fatalf("emersion error %v", failed)
	}
	// Authentication: no token, a reseller's token, a bad body.
	if status, _ := postAs(t, w.r, "/adapters/cloudblue/events", "application/json", "{}", ""); status != http.StatusUnauthorized {
		t.Fatalf("no token: %d", status)
	}
	if status, _ := postAs(t, w.r, "/adapters/cloudblue/events", "application/json", "{}", w.ta); status != http.StatusForbidden {
		t.Fatalf("reseller token: %d", status)
	}
	status, out := postAs(t, w.r, "/adapters/billmanager/events", "application/json", `{"func":"service.nope","elid":"1","account":"acc-77"}`, w.seller)
	if status != http.StatusUnprocessableEntity || !strings.Contains(out, `"field":"func"`) {
		t.Fatalf("bad func: %d %s", status, out)
	}
}

// postAs posts with the token in the query string (as a platform
// configured with a URL only would), or none.
func postAs(t *testing.T, r *harness.Relay, path, contentType, body, token string) (int, string) {
	t.Helper()
	u := r.URL + path
	if token != "" {
		sep := "?"
		if strings.Contains(u, "?") {
			sep = "&"
		}
		u += sep + "token=" + url.QueryEscape(token)
	}
	resp, err := http.Post(u, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
