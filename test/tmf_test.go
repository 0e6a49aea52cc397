package test

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/billrelay/billrelay/test/harness"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

const tmfData = "../adapters/tmf/testdata/"

// TestTMFListenerAndHub: a seller's TMF622/TMF638 notifications (v4 and
// v5) come in at the listeners; resellers subscribe TMF hubs and get
// TMF-shaped notifications that pass the TMF schemas, retried like
// webhooks.
func TestTMFListenerAndHub(t *testing.T) {
	orders, services := newHook(t), newHook(t)
	failOnce := map[string]bool{}
	orders.setRespond(func(q hookReq, n int) (int, http.Header) {
		var ev struct{ EventID string }
		_ = json.Unmarshal(q.Body, &ev)
		if !failOnce[ev.EventID] {
			failOnce[ev.EventID] = true
			return 500, nil
		}
		return 201, nil
	})
	// The receivers are on 127.0.0.1, which a reseller's hub reaches only
	// when the admin allows it.
	w := startShared(t, append([]string{"RELAY_CALLBACK_ALLOW=127.0.0.1/32"}, fastRetries...)...)
	hubA := subscribe(t, w.r, "productOrderingManagement", w.ta, orders.srv.URL, "eventType=ProductOrderStateChangeEvent")
	subscribe(t, w.r, "serviceInventory", w.tb, services.srv.URL, "")

	order, _ := os.ReadFile(tmfData + "golden/listener/v4-productOrderStateChangeEvent.in.json")
	status, out := postAs(t, w.r, "/tmf-api/productOrderingManagement/v4/listener/productOrderStateChangeEvent", "application/json", string(order), w.seller)
	if status != http.StatusCreated || !strings.Contains(out, `"id":"evt-v4-po-state-0002"`) {
		t.Fatalf("v4 listener: %d %s", status, out)
	}
	svc, _ := os.ReadFile(tmfData + "golden/listener/v5-serviceStateChangeEvent.in.json")
	status, out = postAs(t, w.r, "/tmf-api/serviceInventory/v5/listener/serviceStateChangeEvent?account=acc-77", "application/json", string(svc), w.seller)
	if status != http.StatusNoContent {
		t.Fatalf("v5 listener: %d %s", status, out)
	}

	poSchema := schema(t, "tmf622-v4-ProductOrderStateChangeEvent.schema.json")
	rs := orders.waitFor(t, "3 order notifications, each after one failure", func(rs []hookReq) bool { return len(rs) >= 6 })
	for _, q := range rs {
		valid(t, poSchema, q.Body)
	}
	svcSchema := schema(t, "tmf638-v4-ServiceStateChangeEvent.schema.json")
	srs := services.waitFor(t, "the service notification", func(rs []hookReq) bool { return len(rs) >= 1 })
	valid(t, svcSchema, srs[0].Body)
	if !strings.Contains(string(srs[0].Body), `"state":"active"`) {
		t.Fatalf("service notification %s", srs[0].Body)
	}

	if status, out := w.r.Do(http.MethodPost, "/tmf-api/productOrderingManagement/v4/hub", w.ta, map[string]string{"query": "x"}); status != 422 || !strings.Contains(string(out), `"field":"callback"`) {
		t.Fatalf("hub without callback: %d %s", status, out)
	}
	if status, _ := w.r.Do(http.MethodGet, "/v1/resellers/res-a/events", w.ta, nil); status != http.StatusConflict {
		t.Fatalf("pull while subscribed: %d, want 409", status)
	}
	if status, _ := w.r.Do(http.MethodDelete, "/tmf-api/productOrderingManagement/v4/hub/"+hubA, w.ta, nil); status != http.StatusNoContent {
		t.Fatalf("delete hub: %d", status)
	}
	if status, _ := w.r.Do(http.MethodGet, "/v1/resellers/res-a/events", w.ta, nil); status != http.StatusOK {
		t.Fatalf("pull after the hub was removed: %d", status)
	}
}

func subscribe(t *testing.T, r *harness.Relay, api, token, callback, query string) string {
	t.Helper()
	status, out := r.Do(http.MethodPost, "/tmf-api/"+api+"/v4/hub", token, map[string]string{"callback": callback, "query": query})
	var h struct{ ID, Callback, Query string }
	if status != http.StatusCreated || json.Unmarshal(out, &h) != nil || h.ID == "" || h.Callback != callback || h.Query != query {
		t.Fatalf("hub: %d %s", status, out)
	}
	return h.ID
}

func schema(t *testing.T, file string) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(tmfData + "schemas/" + file)
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

func valid(t *testing.T, s *jsonschema.Schema, body []byte) {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(string(body)))
	if err == nil {
		err = s.Validate(v)
	}
	if err != nil {
		t.Fatalf("notification fails the TMF schema: %v\n%s", err, body)
	}
}
