package test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/billrelay/billrelay/test/harness"
)

type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Fields  []struct {
			Field  string `json:"field"`
			Reason string `json:"reason"`
		} `json:"fields"`
		ErrorID string `json:"error_id"`
	} `json:"error"`
}

// wantAPIError fails t unless the answer is the error format with status,
// code and a message that contains inMessage.
func wantAPIError(t *testing.T, status int, out string, wantStatus int, code, inMessage string) {
	t.Helper()
	var e apiError
	if err := json.Unmarshal([]byte(out), &e); err != nil {
		t.Fatalf("not the error format: %d %.200s", status, out)
	}
	if status != wantStatus || e.Error.Code != code || !strings.Contains(e.Error.Message, inMessage) {
		t.Fatalf("%d %.200s; want %d %s naming %q", status, out, wantStatus, code, inMessage)
	}
}

func ev(mut func(map[string]any)) map[string]any {
	e := harness.StateChange("bad-1", "sell-1", "acc-77", "16643", "active")
	mut(e)
	return e
}

// TestBadInputIsRefusedWhole sends every kind of bad input of the core
// contract; each is answered in the error format, naming the field, and
// nothing of it is stored or delivered.
func TestBadInputIsRefusedWhole(t *testing.T) {
	w := startShared(t)
	w.r.Publish(w.seller, harness.StateChange("good", "sell-1", "acc-77", "1", "active"))
	good := w.r.PullN("res-a", w.ta, 1, 30*time.Second)
	ackOf := func(ids ...string) map[string]any { return map[string]any{"ack": ids} }
	huge := `[` + strings.Repeat(`{"x":"`+strings.Repeat("a", 1000)+`"},`, 1100) + `{}]`

	tests := []struct {
		name   string
		method string
		path   string
		token  string
		body   any
		status int
		field  string
	}{
		{"malformed json", "POST", "/v1/events", w.seller, `{"id":`, 400, ""},
		{"missing id", "POST", "/v1/events", w.seller, ev(func(e map[string]any) { delete(e, "id") }), 422, "id"},
		{"empty type", "POST", "/v1/events", w.seller, ev(func(e map[string]any) { e["type"] = "" }), 422, "type"},
		{"missing source", "POST", "/v1/events", w.seller, ev(func(e map[string]any) { delete(e, "source") }), 422, "source"},
		{"missing seller", "POST", "/v1/events", w.seller, ev(func(e map[string]any) { delete(e, "seller") }), 422, "seller"},
		{"missing account", "POST", "/v1/events", w.seller, ev(func(e map[string]any) { delete(e, "account") }), 422, "account"},
		{"empty item", "POST", "/v1/events", w.seller, ev(func(e map[string]any) { e["item"] = "" }), 422, "item"},
		{"id with dot", "POST", "/v1/events", w.seller, ev(func(e map[string]any) { e["id"] = "a.b" }), 422, "id"},
		{"account with star", "POST", "/v1/events", w.seller, ev(func(e map[string]any) { e["account"] = "acc*" }), 422, "account"},
		{"item with gt", "POST", "/v1/events", w.seller, ev(func(e map[string]any) { e["item"] = "i>" }), 422, "item"},
		{"item with space", "POST", "/v1/events", w.seller, ev(func(e map[string]any) { e["item"] = "i 1" }), 422, "item"},
		{"id over 128 bytes", "POST", "/v1/events", w.seller, ev(func(e map[string]any) { e["id"] = strings.Repeat("x", 129) }), 422, "id"},
		{"unknown type", "POST", "/v1/events", w.seller, ev(func(e map[string]any) { e["type"] = "invoice.payed" }), 422, "type"},
		{"state outside catalog", "POST", "/v1/events", w.seller, ev(func(e map[string]any) { e["data"] = map[string]any{"state": "running"} }), 422, "data.state"},
		{"batch with one bad event", "POST", "/v1/events", w.seller, []any{
			harness.StateChange("b-ok", "sell-1", "acc-77", "1", "active"), ev(func(e map[string]any) { e["type"] = "nope" })}, 422, "[1].type"},
		{"body over 1 MiB", "POST", "/v1/events", w.seller, huge, 413, ""},
		{"no token", "POST", "/v1/events", "", ev(func(map[string]any) {}), 401, ""},
		{"wrong token", "POST", "/v1/events", "brs_wrong", ev(func(map[string]any) {}), 401, ""},
		{"reseller publishing a state change", "POST", "/v1/events", w.ta, ev(func(map[string]any) {}), 403, "[0].type"},
		{"seller publishing for another seller", "POST", "/v1/events", w.seller, ev(func(e map[string]any) { e["seller"] = "sell-2" }), 403, "[0].seller"},
		{"reseller reading another's consumer", "GET", "/v1/resellers/res-b/events", w.ta, nil, 403, ""},
		{"reseller acking another's consumer", "POST", "/v1/resellers/res-b/acks", w.ta, ackOf(good[0].AckID), 403, ""},
		{"another's ack id on own endpoint", "POST", "/v1/resellers/res-b/acks", w.tb, ackOf(good[0].AckID), 403, "ack[0]"},
		{"garbage ack ids", "POST", "/v1/resellers/res-a/acks", w.ta, ackOf("garbage", good[0].AckID), 400, "ack[0]"},
		{"bad nak delay", "POST", "/v1/resellers/res-a/acks", w.ta, map[string]any{"nak": []any{map[string]string{"ack_id": good[0].AckID, "delay": "soon"}}}, 422, "nak[0].delay"},
		{"unknown reseller", "GET", "/v1/resellers/nope", harness.AdminToken, nil, 404, ""},
		{"bad pull max", "GET", "/v1/resellers/res-a/events?max=5000", w.ta, nil, 400, "max"},
		{"admin token on pull", "GET", "/v1/resellers/res-a/events", harness.AdminToken, nil, 403, ""},
		{"seller token on admin api", "POST", "/v1/resellers", w.seller, map[string]any{"id": "x"}, 403, ""},
		{"unknown field in registration", "POST", "/v1/resellers", harness.AdminToken, map[string]any{"id": "x", "seller": "sell-1", "accounts": []string{"a"}, "acounts": 1}, 422, "acounts"},
		{"registration of unknown seller", "POST", "/v1/resellers", harness.AdminToken, map[string]any{"id": "x", "seller": "zz", "accounts": []string{"a"}}, 422, "seller"},
		// Precedence: who you are, then whose, then size, then content.
		{"401 before 413", "POST", "/v1/events", "brs_wrong", huge, 401, ""},
		{"403 before 422", "POST", "/v1/events", w.seller, []any{ev(func(e map[string]any) { e["seller"] = "sell-2" }), ev(func(e map[string]any) { e["type"] = "x" })}, 403, "[0].seller"},
		{"403 before 400 for ack ids", "POST", "/v1/resellers/res-b/acks", w.tb, ackOf("garbage", good[0].AckID), 403, "ack[1]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, out := w.r.Do(tc.method, tc.path, tc.token, tc.body)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, out)
			}
			var e apiError
			if err := json.Unmarshal(out, &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
				t.Fatalf("not the error format: %s", out)
			}
			var fields []string
			for _, f := range e.Error.Fields {
				fields = append(fields, f.Field)
			}
			if tc.field != "" && !slices.Contains(fields, tc.field) {
				t.Fatalf("fields %v, want %q named: %s", fields, tc.field, out)
			}
		})
	}
	// Nothing of the refused requests was stored or delivered.
	if got := w.r.Pull("res-b", w.tb, 100, time.Second); len(got) != 1 || got[0].Event.ID != "good" {
		t.Fatalf("res-b got %v, want only the one good event", harness.IDs(got))
	}
	if lag := w.r.ResellerLag("res-a"); lag.AckPending != 1 || lag.Pending != 0 {
		t.Fatalf("res-a lag %+v: the refused acks must not have applied", lag)
	}
	if strings.Contains(w.r.Logs(), `"message":"internal error"`) {
		t.Fatalf("a bad input caused an internal error:\n%s", w.r.Logs())
	}
	status, _ := w.r.Do(http.MethodGet, "/healthz", "", nil)
	if status != http.StatusOK {
		t.Fatalf("healthz %d", status)
	}
}

// TestAdaptersAnswer413 sends every adapter endpoint a body over the 1 MiB
// limit, as JSON and, where the adapter takes one, as a form: each answers
// 413 in the error format, naming the limit, not 400 for the broken JSON
// its decoder saw.
func TestAdaptersAnswer413(t *testing.T) {
	w := startShared(t)
	big := strings.Repeat("a", 1<<20+1)
	const form, js = "application/x-www-form-urlencoded", "application/json"
	tests := []struct {
		name, path, contentType, body, token string
	}{
		{"cloudblue json", "/adapters/cloudblue/events", js, `{"event":"` + big + `"}`, w.seller},
		{"cloudblue form", "/adapters/cloudblue/events", form, "event=" + big, w.seller},
		{"billmanager json", "/adapters/billmanager/events", js, `{"func":"` + big + `"}`, w.seller},
		{"billmanager form", "/adapters/billmanager/events", form, "func=" + big, w.seller},
		{"emersion json", "/adapters/emersion/events", js, `{"event":"` + big + `"}`, w.seller},
		{"tmf listener v4", "/tmf-api/productOrderingManagement/v4/listener/productOrderStateChangeEvent", js, `{"eventId":"` + big + `"}`, w.seller},
		{"tmf listener v5", "/tmf-api/serviceInventory/v5/listener/serviceStateChangeEvent", js, `{"eventId":"` + big + `"}`, w.seller},
		{"tmf hub", "/tmf-api/productOrderingManagement/v4/hub", js, `{"callback":"` + big + `"}`, w.ta},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, out := postAs(t, w.r, tc.path, tc.contentType, tc.body, tc.token)
			wantAPIError(t, status, out, http.StatusRequestEntityTooLarge, "too_large", "1048576 bytes")
		})
	}
}
