package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
)

// adapterEndpoint stands for a platform adapter: it decodes the body as
// its own JSON and answers with the caller it was given.
var adapterEndpoint = relay.Endpoint{Pattern: "POST /adapters/test", Role: relay.RoleSeller,
	Handle: func(_ context.Context, p relay.Principal, r *http.Request) (int, any, error) {
		var body struct{ Fail, Empty bool }
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			return 0, nil, fmt.Errorf("%w: %v", events.ErrMalformed, err)
		}
		switch {
		case body.Fail:
			return 0, nil, errors.New("cloudblue: upstream secret")
		case body.Empty:
			return http.StatusNoContent, nil, nil
		}
		return http.StatusOK, map[string]string{"caller": p.ID}, nil
	}}

// TestAdapterEndpointsJudgeInOrder: an adapter's endpoint is behind the
// same token check (bearer or ?token=), body limit and error format as
// the API, whatever the adapter's decoder makes of a cut body.
func TestAdapterEndpointsJudgeInOrder(t *testing.T) {
	for _, tc := range []struct {
		name, path, token, body string
		status                  int
		has                     string
	}{
		{"no token", "/adapters/test", "", tooLarge, 401, `"code":"unauthorized"`},
		{"the admin token", "/adapters/test", adminToken, tooLarge, 401, `"code":"unauthorized"`},
		{"another role", "/adapters/test", tokResA, tooLarge, 403, `this endpoint takes a seller token`},
		{"too large", "/adapters/test", tokSell1, tooLarge, 413, `"code":"too_large"`},
		{"bad JSON", "/adapters/test", tokSell1, "{", 400, `"code":"malformed"`},
		{"bearer", "/adapters/test", tokSell1, "{}", 200, `{"caller":"sell-1"}`},
		{"token in the query", "/adapters/test?token=" + tokSell1, "", "{}", 200, `{"caller":"sell-1"}`},
		{"no body", "/adapters/test", tokSell1, `{"empty":true}`, 204, ""},
	} {
		a := newAPI(t, adapterEndpoint)
		w := a.do("POST", tc.path, tc.token, tc.body)
		if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.has) || (tc.has == "" && w.Body.Len() != 0) {
			t.Errorf("%s: %d %s, want %d with %s", tc.name, w.Code, w.Body, tc.status, tc.has)
		}
	}
	a := newAPI(t, adapterEndpoint)
	w := a.do("POST", "/adapters/test", tokSell1, `{"fail":true}`)
	e := parseError(t, w.Body.Bytes())
	if w.Code != 500 || strings.Contains(w.Body.String(), "upstream") {
		t.Fatalf("failing adapter: %d %s", w.Code, w.Body)
	}
	assertLogged(t, a.logs.String(), e.Error.ErrorID, "cloudblue: upstream secret")
}
