package httpapi_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

// route is one endpoint of the API as a caller sees it.
type route struct {
	method, path string
	token        string   // a token the route takes
	wrong        []string // tokens it refuses with 403
	body         string   // a body it accepts ("": it takes none)
	// invalid is a well-formed body with a bad field, and field the name
	// the answer must give ("": the route reads no body).
	invalid, field string
	ok             int    // the status with the fakes answering
	call           string // the call it makes, as the fakes record it
}

var (
	notAdmin = []string{tokResA, tokSell1}
	notResA  = []string{tokResB, tokSell1, adminToken}
	notSell1 = []string{tokSell2, tokResA, adminToken}
	anEvent  = `{"specversion":"1.0","id":"e1","source":"/s","type":"service.state_changed","seller":"sell-1","account":"acc-77","item":"i1","data":{"state":"active"}}`
)

// routes is every route of the API behind a token, by group.
var routes = []route{
	// ingest
	{method: "POST", path: "/v1/events", token: tokSell1, wrong: []string{adminToken}, body: anEvent,
		invalid: strings.Replace(anEvent, `"item":"i1",`, "", 1), field: "item", ok: 202, call: "Publish seller:sell-1 1"},
	// pull and ack, a reseller's events and a seller's orders
	{method: "GET", path: "/v1/resellers/res-a/events?max=5&wait=2s", token: tokResA, wrong: notResA, ok: 200, call: "Pull res-a 5 2s"},
	{method: "POST", path: "/v1/resellers/res-a/acks", token: tokResA, wrong: notResA, body: `{"ack":["x"]}`,
		invalid: `{"ack":"x"}`, field: "ack", ok: 200, call: "Ack res-a [x]"},
	{method: "GET", path: "/v1/sellers/sell-1/events", token: tokSell1, wrong: notSell1, ok: 200, call: "PullOrders sell-1 100 0s"},
	{method: "POST", path: "/v1/sellers/sell-1/acks", token: tokSell1, wrong: notSell1, body: `{"ack":["y"]}`,
		invalid: `{"nak":[{"ack_id":5}]}`, field: "nak.ack_id", ok: 200, call: "AckOrders sell-1 [y]"},
	// registry
	{method: "POST", path: "/v1/sellers", token: adminToken, wrong: notAdmin, body: `{"id":"sell-9"}`,
		invalid: `{"id":9}`, field: "id", ok: 201, call: "RegisterSeller sell-9"},
	{method: "POST", path: "/v1/resellers", token: adminToken, wrong: notAdmin, body: `{"id":"res-9","seller":"sell-1","accounts":["a"]}`,
		invalid: `{"id":"res-9","accounts":"a"}`, field: "accounts", ok: 201, call: "RegisterReseller res-9"},
	{method: "GET", path: "/v1/resellers", token: adminToken, wrong: notAdmin, ok: 200, call: "Resellers"},
	{method: "GET", path: "/v1/resellers/res-a", token: adminToken, wrong: notAdmin, ok: 200, call: "Reseller res-a"},
	{method: "GET", path: "/v1/sellers/sell-1", token: adminToken, wrong: notAdmin, ok: 200, call: "Seller sell-1"},
	{method: "PUT", path: "/v1/resellers/res-a/webhook", token: adminToken, wrong: notAdmin, body: `{"url":"https://r.example/h"}`,
		invalid: `{"url":"https://r.example/h","secrets":["s"]}`, field: "secrets", ok: 200, call: "SetWebhook reseller res-a https://r.example/h"},
	{method: "DELETE", path: "/v1/resellers/res-a/webhook", token: adminToken, wrong: notAdmin, ok: 204, call: "RemoveWebhook reseller res-a"},
	{method: "PUT", path: "/v1/sellers/sell-1/webhook", token: adminToken, wrong: notAdmin, body: `{"url":"https://s.example/h"}`,
		invalid: `{"concurrency":"4"}`, field: "concurrency", ok: 200, call: "SetWebhook seller sell-1 https://s.example/h"},
	{method: "DELETE", path: "/v1/sellers/sell-1/webhook", token: adminToken, wrong: notAdmin, ok: 204, call: "RemoveWebhook seller sell-1"},
	{method: "PUT", path: "/v1/resellers/res-a/callback-allow", token: adminToken, wrong: notAdmin, body: `{"cidrs":["10.0.0.0/8"]}`,
		invalid: `{}`, field: "cidrs", ok: 200, call: "SetCallbackAllow res-a [10.0.0.0/8]"},
	{method: "PUT", path: "/v1/sellers/sell-1/notifications", token: adminToken, wrong: notAdmin, body: `{"webhook_url":"https://n.example"}`,
		invalid: `{"email":"yes"}`, field: "email", ok: 200, call: "SetNotify sell-1 https://n.example"},
	// admin
	{method: "POST", path: "/v1/resellers/res-a/pause", token: adminToken, wrong: notAdmin, body: `{"reason":"maintenance"}`,
		invalid: `{"reason":5}`, field: "reason", ok: 200, call: "Pause res-a maintenance"},
	{method: "POST", path: "/v1/resellers/res-a/resume", token: adminToken, wrong: notAdmin, ok: 200, call: "Resume res-a"},
	{method: "POST", path: "/v1/sellers/sell-1/resume", token: adminToken, wrong: notAdmin, ok: 200, call: "ResumeSeller sell-1"},
	{method: "POST", path: "/v1/overrides", token: adminToken, wrong: notAdmin, body: `{"seller":"sell-1","account":"a","item":"i1","event":{},"actor":"al","reason":"r"}`,
		invalid: `{"actor":["al"]}`, field: "actor", ok: 202, call: "PublishOverride i1"},
	{method: "GET", path: "/v1/audit", token: adminToken, wrong: notAdmin, ok: 200, call: "Audit 100"},
	{method: "GET", path: "/v1/items/sell-1/acc-77/i1", token: adminToken, wrong: notAdmin, ok: 200, call: "Item sell-1/acc-77/i1"},
	{method: "PUT", path: "/v1/items/sell-1/acc-77/i1/owner", token: adminToken, wrong: notAdmin, body: `{"reseller":"res-b"}`,
		invalid: `{"reseller":["res-b"]}`, field: "reseller", ok: 200, call: "SetOwner i1 res-b"},
	{method: "DELETE", path: "/v1/items/sell-1/acc-77/i1/owner", token: adminToken, wrong: notAdmin, ok: 204, call: "ClearOwner i1"},
	// ops, dead letters, replay
	{method: "GET", path: "/v1/dlq?reseller=res-a&limit=7", token: adminToken, wrong: notAdmin, ok: 200, call: `DeadLetters "res-a" false 7`},
	{method: "POST", path: "/v1/dlq/redrive", token: adminToken, wrong: notAdmin, body: `{"reseller":"res-a","ids":["7"]}`,
		invalid: `{"ids":["7"]}`, field: "reseller", ok: 200, call: "Redrive res-a [7]"},
	{method: "GET", path: "/v1/ops/events", token: adminToken, wrong: notAdmin, ok: 200, call: "OpsEvents 100"},
	{method: "POST", path: "/v1/resellers/res-a/replay", token: adminToken, wrong: notAdmin, body: `{"items":["i1"]}`,
		invalid: `{"items":"i1"}`, field: "items", ok: 200, call: "Replay res-a [i1]"},
	{method: "POST", path: "/v1/resellers/res-a/reconcile", token: adminToken, wrong: notAdmin, body: `{"fix":true}`,
		invalid: `{"fix":"yes"}`, field: "fix", ok: 200, call: "Reconcile res-a true"},
}

// errorAnswer is the API's one error format.
type errorAnswer struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		ErrorID string `json:"error_id"`
		Fields  []struct {
			Field  string `json:"field"`
			Reason string `json:"reason"`
		} `json:"fields"`
	} `json:"error"`
}

func parseError(t *testing.T, body []byte) errorAnswer {
	t.Helper()
	var e errorAnswer
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Code == "" {
		t.Fatalf("not the error format: %s (%v)", body, err)
	}
	return e
}

// TestEveryRouteJudgesInOrder: for every route, who you are (401) comes
// before whether it is yours (403), before the body's size (413), before
// its syntax (400) and its fields (422, naming the field); a refused
// request reaches no part behind the API; an accepted one makes the call.
func TestEveryRouteJudgesInOrder(t *testing.T) {
	for _, rt := range routes {
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			type step struct {
				name, token, body string
				status            int
				code              string
			}
			anyBody := rt.body
			if anyBody != "" {
				anyBody = tooLarge
			}
			steps := []step{{"no token", "", anyBody, 401, "unauthorized"}, {"unknown token", "tok-nobody", anyBody, 401, "unauthorized"}}
			for _, tok := range rt.wrong {
				steps = append(steps, step{"token " + tok, tok, anyBody, 403, "forbidden"})
			}
			if rt.body != "" {
				steps = append(steps, step{"too large", rt.token, tooLarge, 413, "too_large"},
					step{"bad JSON", rt.token, `{"id":`, 400, "malformed"})
			}
			for _, s := range steps {
				a := newAPI(t)
				w := a.do(rt.method, rt.path, s.token, s.body)
				if e := parseError(t, w.Body.Bytes()); w.Code != s.status || e.Error.Code != s.code {
					t.Fatalf("%s: %d %s, want %d %s", s.name, w.Code, w.Body, s.status, s.code)
				}
				if slices.ContainsFunc(a.rec.calls, reachesAPart) {
					t.Fatalf("%s: refused, yet called %v", s.name, a.rec.calls)
				}
			}
			if rt.invalid != "" {
				a := newAPI(t)
				w := a.do(rt.method, rt.path, rt.token, rt.invalid)
				e := parseError(t, w.Body.Bytes())
				if w.Code != 422 || len(e.Error.Fields) == 0 || e.Error.Fields[0].Field != rt.field || e.Error.Fields[0].Reason == "" {
					t.Fatalf("invalid body: %d %s, want 422 naming %q with a reason", w.Code, w.Body, rt.field)
				}
				if slices.ContainsFunc(a.rec.calls, reachesAPart) {
					t.Fatalf("invalid body refused, yet called %v", a.rec.calls)
				}
			}
			a := newAPI(t)
			w := a.do(rt.method, rt.path, rt.token, rt.body)
			if w.Code != rt.ok || !slices.Contains(a.rec.calls, rt.call) {
				t.Fatalf("accepted: %d %s, calls %q; want %d and %q", w.Code, w.Body, a.rec.calls, rt.ok, rt.call)
			}
		})
	}
}

// reachesAPart: a call beyond reading who may do what.
func reachesAPart(call string) bool {
	return !strings.HasPrefix(call, "Authorize ")
}

// TestInternalErrorsGiveAnErrorID: whatever part fails behind a route, the
// caller gets 500 with an error_id and none of the failure's text, and
// the log has the failure under the same error_id.
func TestInternalErrorsGiveAnErrorID(t *testing.T) {
	for _, rt := range routes {
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			a := newAPI(t)
			a.rec.err = errors.New("nats: secret internal detail")
			w := a.do(rt.method, rt.path, rt.token, rt.body)
			e := parseError(t, w.Body.Bytes())
			if w.Code != 500 || e.Error.Code != "internal" || len(e.Error.ErrorID) != 16 {
				t.Fatalf("%d %s, want 500 internal with an error_id", w.Code, w.Body)
			}
			if strings.Contains(w.Body.String(), "nats") || strings.Contains(w.Body.String(), "secret") {
				t.Fatalf("internals leaked: %s", w.Body)
			}
			assertLogged(t, a.logs.String(), e.Error.ErrorID, "nats: secret internal detail")
		})
	}
}

// assertLogged finds the log line with error_id id and requires it to
// carry the error's text.
func assertLogged(t *testing.T, logs, id, text string) {
	t.Helper()
	for line := range strings.Lines(logs) {
		var l struct {
			ErrorID string `json:"error_id"`
			Error   string `json:"error"`
			Level   string `json:"level"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.ErrorID == id {
			if !strings.Contains(l.Error, text) || l.Level != "error" {
				t.Fatalf("error_id %s logged as %s", id, line)
			}
			return
		}
	}
	t.Fatalf("error_id %s not in the log:\n%s", id, logs)
}

// TestRoutesWithoutAToken: health, readiness and metrics answer without a
// token; any other method or path answers 404 in the error format.
func TestRoutesWithoutAToken(t *testing.T) {
	a := newAPI(t)
	for _, tc := range []struct {
		method, path string
		status       int
		has          string
	}{
		{"GET", "/healthz", 200, `"status":"ok"`},
		{"GET", "/readyz", 200, `"status":"ready"`},
		{"GET", "/metrics", 200, ""},
		{"GET", "/v1/nothing", 404, `"code":"not_found"`},
		{"POST", "/v1/resellers/res-a/events", 404, `"message":"no endpoint POST /v1/resellers/res-a/events"`},
	} {
		w := a.do(tc.method, tc.path, "", "")
		if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.has) {
			t.Errorf("%s %s: %d %s, want %d with %s", tc.method, tc.path, w.Code, w.Body, tc.status, tc.has)
		}
	}
	if len(a.rec.calls) != 0 {
		t.Errorf("calls %v", a.rec.calls)
	}
}
