package httpapi_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/billrelay/billrelay/events"
)

// TestRegistryAnswers: registration answers the credentials once; a
// reseller's view shows its status and circuit but neither its webhook
// secrets nor what its URL carries.
func TestRegistryAnswers(t *testing.T) {
	a := newAPI(t)
	w := a.do("POST", "/v1/resellers", adminToken, `{"id":"res-9","seller":"sell-1","accounts":["a"]}`)
	if w.Code != 201 || !strings.Contains(w.Body.String(), `"id":"res-9","token":"tok-new"`) {
		t.Fatalf("register: %d %s", w.Code, w.Body)
	}
	for _, path := range []string{"/v1/resellers/res-a", "/v1/resellers", "/v1/resellers/res-a/resume"} {
		method := map[bool]string{true: "POST", false: "GET"}[strings.HasSuffix(path, "/resume")]
		w := a.do(method, path, adminToken, "")
		body := w.Body.String()
		if w.Code != 200 || !strings.Contains(body, `"dlq":1`) || !strings.Contains(body, `"url":"https://***@r.example/h?key=***"`) ||
			!strings.Contains(body, `"active_secrets":1`) || !strings.Contains(body, `"circuit":{"circuit":"open","consecutive_failures":3}`) {
			t.Errorf("%s %s: %d %s", method, path, w.Code, body)
		}
		if strings.Contains(body, "whsec_current") || strings.Contains(body, "pw") || strings.Contains(body, "k1") {
			t.Errorf("%s %s leaks a secret: %s", method, path, body)
		}
	}
}

// TestAdminRequestDefaults: pause without a body pauses with a default
// reason; the seller's view carries its own status.
func TestAdminRequestDefaults(t *testing.T) {
	a := newAPI(t)
	if w := a.do("POST", "/v1/resellers/res-a/pause", adminToken, ""); w.Code != 200 || a.rec.calls[0] != "Pause res-a paused by an admin" {
		t.Fatalf("pause: %d %s, calls %v", w.Code, w.Body, a.rec.calls)
	}
	if w := a.do("GET", "/v1/sellers/sell-1", adminToken, ""); w.Code != 200 || !strings.Contains(w.Body.String(), `"id":"sell-1"`) ||
		!strings.Contains(w.Body.String(), `"dlq":2`) {
		t.Fatalf("seller: %d %s", w.Code, w.Body)
	}
	if w := a.do("GET", "/v1/dlq?reseller=res-a&all=true", adminToken, ""); w.Code != 200 || !strings.Contains(w.Body.String(), `"entries":[{"id":"7"`) ||
		!strings.Contains(strings.Join(a.rec.calls, ";"), `DeadLetters "res-a" true 100`) {
		t.Fatalf("dlq: %d %s, calls %v", w.Code, w.Body, a.rec.calls)
	}
}

// TestAdminNamesTheBadParameter: bad query or path values are a 400 naming
// the field, after the token is checked, and reach no part.
func TestAdminNamesTheBadParameter(t *testing.T) {
	for _, tc := range []struct{ method, path, body, field string }{
		{"GET", "/v1/dlq?limit=0", "", "limit"},
		{"GET", "/v1/audit?limit=10001", "", "limit"},
		{"GET", "/v1/ops/events?limit=x", "", "limit"},
		{"GET", "/v1/items/sell-1/acc-77/a*b", "", "item"},
		{"PUT", "/v1/items/sell.1/acc-77/i1/owner", `{"reseller":"res-a"}`, "seller"},
		{"DELETE", "/v1/items/sell-1/acc%2077/i1/owner", "", "account"},
	} {
		a := newAPI(t)
		if w := a.do(tc.method, tc.path, tokResA, tc.body); w.Code != 403 {
			t.Errorf("%s %s with a reseller's token: %d, want 403 first", tc.method, tc.path, w.Code)
		}
		w := a.do(tc.method, tc.path, adminToken, tc.body)
		if e := parseError(t, w.Body.Bytes()); w.Code != 400 || len(e.Error.Fields) != 1 || e.Error.Fields[0].Field != tc.field {
			t.Errorf("%s %s: %d %s, want 400 naming %s", tc.method, tc.path, w.Code, w.Body, tc.field)
		}
		if len(a.rec.calls) != 0 {
			t.Errorf("%s %s: called %v", tc.method, tc.path, a.rec.calls)
		}
	}
}

// TestAdminPassesKnownErrorsOn: a part's not-found or conflict reaches the
// caller as such, with the part's message.
func TestAdminPassesKnownErrorsOn(t *testing.T) {
	a := newAPI(t)
	a.rec.err = fmt.Errorf("%w: reseller res-x", events.ErrNotFound)
	if w := a.do("GET", "/v1/resellers/res-x", adminToken, ""); w.Code != 404 || !strings.Contains(w.Body.String(), "res-x") {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	a.rec.err = fmt.Errorf("%w: seller sell-9 exists", events.ErrConflict)
	if w := a.do("POST", "/v1/sellers", adminToken, `{"id":"sell-9"}`); w.Code != 409 || !strings.Contains(w.Body.String(), "exists") {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}

// ndjson reads a streamed long operation's answer line by line.
func ndjson(t *testing.T, body string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(body) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// TestLongOperationsStream: asked for NDJSON, replay, reconcile and
// redrive send progress lines and the result last; anyone else gets the
// plain answer.
func TestLongOperationsStream(t *testing.T) {
	for _, tc := range []struct{ path, body, result string }{
		{"/v1/resellers/res-a/replay", `{"items":["i1"]}`, "replayed"},
		{"/v1/resellers/res-a/reconcile", "", "checked"},
		{"/v1/dlq/redrive", `{"reseller":"res-a","ids":["1","2"]}`, "redriven"},
	} {
		a := newAPI(t)
		a.admin.steps = []int{1}
		w := a.do("POST", tc.path, adminToken, tc.body, "Accept", "application/x-ndjson")
		lines := ndjson(t, w.Body.String())
		if w.Code != 200 || w.Header().Get("Content-Type") != "application/x-ndjson" || len(lines) == 0 || lines[len(lines)-1][tc.result] == nil {
			t.Errorf("%s streamed: %d %q %s", tc.path, w.Code, w.Header().Get("Content-Type"), w.Body)
		}
		if tc.result != "redriven" && (len(lines) != 2 || lines[0]["progress"] != 1.0) {
			t.Errorf("%s: want a progress line first: %s", tc.path, w.Body)
		}
		w = a.do("POST", tc.path, adminToken, tc.body)
		if w.Code != 200 || w.Header().Get("Content-Type") != "application/json" || !strings.Contains(w.Body.String(), `"`+tc.result+`"`) {
			t.Errorf("%s plain: %d %s", tc.path, w.Code, w.Body)
		}
	}
}

// TestLongOperationFailingHalfWay: once progress was sent the status is
// gone, so the failure is the last line, with an error_id that the log
// has with the cause; the cause is not sent.
func TestLongOperationFailingHalfWay(t *testing.T) {
	a := newAPI(t)
	a.admin.steps = []int{1}
	a.rec.err = errors.New("nats: stream lost")
	w := a.do("POST", "/v1/resellers/res-a/replay", adminToken, "", "Accept", "application/x-ndjson")
	lines := ndjson(t, w.Body.String())
	if len(lines) != 2 || lines[0]["progress"] != 1.0 {
		t.Fatalf("%s", w.Body)
	}
	var last errorAnswer
	b, _ := json.Marshal(lines[1])
	_ = json.Unmarshal(b, &last)
	if last.Error.Code != "failed" || last.Error.ErrorID == "" || strings.Contains(w.Body.String(), "nats") {
		t.Fatalf("last line %s", b)
	}
	assertLogged(t, a.logs.String(), last.Error.ErrorID, "nats: stream lost")
}
