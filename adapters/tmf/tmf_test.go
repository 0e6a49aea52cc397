package tmf

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/test/golden"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

var received = time.Date(2024, 5, 8, 15, 0, 0, 0, time.UTC)

// eventName reads the listener event from a fixture's name
// ("v4-productOrderStateChangeEvent-revision-cancel").
func eventName(name string) string {
	parts := strings.Split(name, "-")
	return parts[1]
}

func TestListenerGolden(t *testing.T) {
	mp := Mapper{AccountRole: "Customer"}
	golden.Run(t, "testdata/golden/listener", func(t *testing.T, name string, in []byte) (any, error) {
		var n Notification
		if err := json.Unmarshal(in, &n); err != nil {
			t.Fatal(err)
		}
		return mp.Map("sell-1", eventName(name), "", n, received)
	})
}

// TestSameNotificationSameIDs: a notification sent twice (same eventId)
// maps to the same events, so it is stored once.
func TestSameNotificationSameIDs(t *testing.T) {
	b, _ := os.ReadFile("testdata/golden/listener/v4-productOrderStateChangeEvent.in.json")
	var n Notification
	_ = json.Unmarshal(b, &n)
	a, _ := Mapper{}.Map("sell-1", "productOrderStateChangeEvent", "", n, received)
	c, _ := Mapper{}.Map("sell-1", "productOrderStateChangeEvent", "", n, received.Add(time.Hour))
	if len(a) != 3 || a[0].ID != c[0].ID || a[2].ID != c[2].ID {
		t.Fatalf("%d events; ids differ between sends", len(a))
	}
}

// TestNotifyGoldenAndSchemas maps catalog events to hub notifications and
// validates each against the TMF622/TMF638 v4 schemas kept in testdata.
func TestNotifyGoldenAndSchemas(t *testing.T) {
	schemas := map[string]*jsonschema.Schema{
		"ProductOrderStateChangeEvent": compile(t, "tmf622-v4-ProductOrderStateChangeEvent.schema.json"),
		"ServiceStateChangeEvent":      compile(t, "tmf638-v4-ServiceStateChangeEvent.schema.json"),
	}
	golden.Run(t, "testdata/golden/notify", func(t *testing.T, name string, in []byte) (any, error) {
		var c struct {
			API   string          `json:"api"`
			Event json.RawMessage `json:"event"`
		}
		if err := json.Unmarshal(in, &c); err != nil {
			t.Fatal(err)
		}
		n, ok := Notify(relay.Message{Body: c.Event}, c.API, received)
		if !ok {
			return map[string]string{"skipped": "not this hub's API"}, nil
		}
		if strings.HasSuffix(c.API, "/v4") {
			validate(t, schemas[n["eventType"].(string)], n)
		}
		return n, nil
	})
}

func compile(t *testing.T, file string) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata/schemas", file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(file, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(file)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validate(t *testing.T, s *jsonschema.Schema, n map[string]any) {
	t.Helper()
	b, _ := json.Marshal(n)
	v, _ := jsonschema.UnmarshalJSON(strings.NewReader(string(b)))
	if err := s.Validate(v); err != nil {
		t.Fatalf("notification fails the TMF schema: %v\n%s", err, b)
	}
}

// TestSchemasRejectWrongShapes keeps the schema check honest: a wrong
// state and a missing item action are refused.
func TestSchemasRejectWrongShapes(t *testing.T) {
	s := compile(t, "tmf622-v4-ProductOrderStateChangeEvent.schema.json")
	for _, bad := range []string{
		`{"event":{"productOrder":{"state":"done","productOrderItem":[{"id":"1","action":"add"}]}}}`,
		`{"event":{"productOrder":{"state":"completed","productOrderItem":[{"id":"1"}]}}}`,
	} {
		v, _ := jsonschema.UnmarshalJSON(strings.NewReader(bad))
		if s.Validate(v) == nil {
			t.Fatalf("schema accepted %s", bad)
		}
	}
}

func TestQuery(t *testing.T) {
	n := map[string]any{"eventType": "ProductOrderStateChangeEvent",
		"event": map[string]any{"productOrder": map[string]any{"state": "completed"}}}
	tests := []struct {
		q    string
		want bool
	}{
		{"", true},
		{"eventType=ProductOrderStateChangeEvent", true},
		{"eventType=ServiceStateChangeEvent", false},
		{"event.productOrder.state=completed,failed", true},
		{"state=failed", false},
		{"state=completed&eventType=ProductOrderStateChangeEvent", true},
	}
	for _, tc := range tests {
		q, err := ParseQuery(tc.q)
		if err != nil || q.Match(n) != tc.want {
			t.Errorf("%q: match %v, %v; want %v", tc.q, q.Match(n), err, tc.want)
		}
	}
}

func FuzzListener(f *testing.F) {
	b, _ := os.ReadFile("testdata/golden/listener/v4-productOrderStateChangeEvent.in.json")
	f.Add(b, "productOrderStateChangeEvent")
	b, _ = os.ReadFile("testdata/golden/listener/v5-serviceStateChangeEvent.in.json")
	f.Add(b, "serviceStateChangeEvent")
	f.Fuzz(func(t *testing.T, body []byte, name string) {
		var n Notification
		if json.Unmarshal(body, &n) != nil {
			return
		}
		evs, err := Mapper{AccountRole: "Customer"}.Map("sell-1", name, "", n, received)
		if err != nil {
			return
		}
		for _, e := range evs {
			if e.Validate() != nil {
				t.Fatalf("mapped to an invalid event %+v", e)
			}
		}
	})
}

func FuzzQuery(f *testing.F) {
	f.Add("eventType=ProductOrderStateChangeEvent&state=completed,failed")
	f.Add("%zz=&=x")
	f.Fuzz(func(t *testing.T, q string) {
		if parsed, err := ParseQuery(q); err == nil {
			parsed.Match(map[string]any{"event": map[string]any{"x": map[string]any{"state": "a"}}})
		}
	})
}

func FuzzDecodeHub(f *testing.F) {
	f.Add([]byte(`{"callback":"https://r.example/listener","query":"eventType=ProductOrderStateChangeEvent"}`))
	f.Add([]byte(`{"callback":5}`))
	f.Add([]byte(`{"query":"%zz"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeHub(bytes.NewReader(body))
		switch {
		case err != nil && !errors.Is(err, events.ErrMalformed) && !errors.Is(err, events.ErrInvalid):
			t.Fatalf("unclassified error for %q: %v", body, err)
		case err == nil:
			if _, qerr := ParseQuery(req.Query); qerr != nil {
				t.Fatalf("accepted a query that does not parse: %q", req.Query)
			}
		}
	})
}

// TestNotificationsWithoutIDAreDistinct: notifications without eventId
// (or id) are told apart by what they say: an order moving acknowledged →
// inProgress → completed is three events, while the same notification
// sent again, formatted differently, is the same event.
func TestNotificationsWithoutIDAreDistinct(t *testing.T) {
	note := func(state, item string) string {
		return `{"eventType":"ProductOrderStateChangeEvent","event":{"productOrder":{"id":"PO-7","state":"` + state +
			`","billingAccount":{"id":"acc-77"},"productOrderItem":[{"id":"1","action":"add","state":"` + item + `"}]}}}`
	}
	ids := map[string]string{}
	for _, body := range []string{note("acknowledged", "acknowledged"), note("inProgress", "inProgress"), note("completed", "completed"),
		note("inProgress", "completed")} {
		evs := mapBody(t, body)
		if prev, seen := ids[evs[0].ID]; seen {
			t.Fatalf("%s and %s map to one id %s", prev, body, evs[0].ID)
		}
		ids[evs[0].ID] = body
	}
	again := strings.ReplaceAll(`{ "event" : {"productOrder":{"productOrderItem":[{"state":"completed","action":"add","id":"1"}],
		"billingAccount":{"id":"acc-77"},"state":"completed","id":"PO-7"}}, "eventType":"ProductOrderStateChangeEvent"}`, "\n", " ")
	first, second := mapBody(t, note("completed", "completed")), mapBody(t, again)
	if first[0].ID != second[0].ID || first[1].ID != second[1].ID {
		t.Fatalf("a re-send maps to %s/%s, first send %s/%s", second[0].ID, second[1].ID, first[0].ID, first[1].ID)
	}
	timed := strings.Replace(note("completed", "completed"), `{"eventType"`, `{"eventTime":"2024-05-08T14:12:31Z","eventType"`, 1)
	if mapBody(t, timed)[0].ID == first[0].ID {
		t.Fatal("a notification of another time maps to the same id")
	}
	svc := func(state string) string {
		return `{"event":{"service":{"id":"svc-1","state":"` + state + `"}}}`
	}
	mp := Mapper{AccountRole: "Customer"}
	var svcIDs []string
	for _, body := range []string{svc("active"), svc("inactive"), svc("active")} {
		var n Notification
		if err := json.Unmarshal([]byte(body), &n); err != nil {
			t.Fatal(err)
		}
		evs, err := mp.Map("sell-1", "serviceStateChangeEvent", "acc-77", n, received)
		if err != nil {
			t.Fatal(err)
		}
		svcIDs = append(svcIDs, evs[0].ID)
	}
	if svcIDs[0] == svcIDs[1] || svcIDs[0] != svcIDs[2] {
		t.Fatalf("service ids %v: want active and inactive apart, the repeated active (no time) the same", svcIDs)
	}
}

func mapBody(t *testing.T, body string) []events.Event {
	t.Helper()
	var n Notification
	if err := json.Unmarshal([]byte(body), &n); err != nil {
		t.Fatal(err)
	}
	evs, err := Mapper{AccountRole: "Customer"}.Map("sell-1", "productOrderStateChangeEvent", "", n, received)
	if err != nil || len(evs) != 2 {
		t.Fatalf("%s: %v, %v", body, evs, err)
	}
	return evs
}
