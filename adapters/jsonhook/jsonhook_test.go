package jsonhook

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
)

type note struct {
	Name string `json:"name"`
	Item string `json:"item,omitempty"`
}

// publisher records what the endpoint publishes and answers accepted.
type publisher struct {
	got []events.Event
	as  relay.Principal
}

func (p *publisher) Publish(_ context.Context, as relay.Principal, evs []events.Event) ([]relay.Result, error) {
	p.as, p.got = as, append(p.got, evs...)
	res := make([]relay.Result, len(evs))
	for i, e := range evs {
		res[i] = relay.Result{ID: e.ID, Status: relay.StatusAccepted}
	}
	return res, nil
}

func testHook(form bool) Hook[note] {
	h := Hook[note]{Pattern: "POST /adapters/test/events",
		Map: func(seller string, n note, received time.Time) (events.Event, error) {
			if n.Name == "" {
				return events.Event{}, events.Invalid("name", "required")
			}
			return events.Event{ID: seller + "/" + n.Name, Seller: seller, Item: n.Item, Time: received}, nil
		}}
	if form {
		h.Form = func(f url.Values) note { return note{Name: f.Get("name"), Item: f.Get("item")} }
	}
	return h
}

// post makes a request whose URL has a query (as ?token= does): only the
// posted fields are the notification's.
func post(body, contentType string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/adapters/test/events?token=t&item=from-query", strings.NewReader(body))
	r.Header.Set("Content-Type", contentType)
	return r
}

const formType = "application/x-www-form-urlencoded"

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name, body, ctype string
		form              bool
		want              note
		err               string // "" when it decodes
	}{
		{"json", `{"name":"a","item":"i-1"}`, "application/json", true, note{Name: "a", Item: "i-1"}, ""},
		{"json without a content type", `{"name":"a"}`, "", false, note{Name: "a"}, ""},
		{"form", "name=a&item=i-1&other=x", formType, true, note{Name: "a", Item: "i-1"}, ""},
		{"form with a charset", "name=a", formType + "; charset=utf-8", true, note{Name: "a"}, ""},
		{"a form where only JSON is read", "name=a", formType, false, note{}, "invalid character"},
		{"unknown JSON field", `{"name":"a","nmae":"b"}`, "application/json", true, note{}, `unknown field "nmae"`},
		{"wrong JSON type", `{"name":7}`, "application/json", true, note{}, "cannot unmarshal number"},
		{"empty body", ``, "application/json", true, note{}, "EOF"},
		{"bad form", "name=%zz", formType, true, note{}, "form: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := testHook(tc.form).Decode(post(tc.body, tc.ctype))
			if tc.err == "" {
				if err != nil || n != tc.want {
					t.Fatalf("got %+v, %v; want %+v", n, err, tc.want)
				}
				return
			}
			if !errors.Is(err, events.ErrMalformed) || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err %v; want ErrMalformed naming %q", err, tc.err)
			}
		})
	}
}

func TestEndpointPublishesTheMappedEvent(t *testing.T) {
	pub := &publisher{}
	ep := testHook(true).Endpoint(pub)
	if ep.Pattern != "POST /adapters/test/events" || ep.Role != relay.RoleSeller {
		t.Fatalf("pattern %q role %v; want the hook's pattern for sellers", ep.Pattern, ep.Role)
	}
	seller := relay.Principal{ID: "sell-1", Role: relay.RoleSeller}
	status, body, err := ep.Handle(context.Background(), seller, post("name=a&item=i-1", formType))
	if err != nil || status != http.StatusAccepted {
		t.Fatalf("status %d, %v; want 202", status, err)
	}
	res, _ := body.(map[string]any)["results"].([]relay.Result)
	if len(res) != 1 || res[0].ID != "sell-1/a" || pub.as.ID != "sell-1" || len(pub.got) != 1 || pub.got[0].Item != "i-1" {
		t.Fatalf("answer %+v, published %+v as %q; want sell-1/a for item i-1", body, pub.got, pub.as.ID)
	}
}

// TestEndpointPublishesNothingItCannotMap: a body that does not decode or
// map is the adapter's field error, and nothing is published.
func TestEndpointPublishesNothingItCannotMap(t *testing.T) {
	pub := &publisher{}
	ep := testHook(false).Endpoint(pub)
	seller := relay.Principal{ID: "sell-1", Role: relay.RoleSeller}
	if _, _, err := ep.Handle(context.Background(), seller, post(`{"item":"i-1"}`, "application/json")); !errors.Is(err, events.ErrInvalid) || !strings.Contains(err.Error(), "name") {
		t.Fatalf("err %v; want the mapping's field error", err)
	}
	if _, _, err := ep.Handle(context.Background(), seller, post(`{"name":`, "application/json")); !errors.Is(err, events.ErrMalformed) {
		t.Fatalf("err %v; want ErrMalformed", err)
	}
	if len(pub.got) != 0 {
		t.Fatalf("published %+v; want nothing", pub.got)
	}
}

// FuzzDecode: any body, JSON or form, either decodes or is refused as
// malformed; nothing panics.
func FuzzDecode(f *testing.F) {
	f.Add(`{"name":"a","item":"i-1"}`, false)
	f.Add(`{"name":"a","x":1}`, false)
	f.Add("name=a&item=%zz", true)
	f.Add("name=a;item=b&&=", true)
	h := testHook(true)
	f.Fuzz(func(t *testing.T, body string, form bool) {
		ctype := "application/json"
		if form {
			ctype = formType
		}
		if _, err := h.Decode(post(body, ctype)); err != nil && !errors.Is(err, events.ErrMalformed) {
			t.Fatalf("%q: %v; want nil or ErrMalformed", body, err)
		}
	})
}
