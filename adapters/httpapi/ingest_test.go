package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/billrelay/billrelay/events"
)

// TestIngestJudgesWhoBeforeWhat: an event the caller may not send is
// refused 403 even when it is also invalid, and nothing is published.
func TestIngestJudgesWhoBeforeWhat(t *testing.T) {
	a := newAPI(t)
	a.ingest.refuse = fmt.Errorf("%w: seller sell-1 does not serve account acc-9", events.ErrForbidden)
	invalid := strings.Replace(anEvent, `"item":"i1",`, "", 1)
	w := a.do("POST", "/v1/events", tokSell1, invalid)
	if e := parseError(t, w.Body.Bytes()); w.Code != 403 || !strings.Contains(e.Error.Message, "acc-9") {
		t.Fatalf("%d %s, want 403 naming the account", w.Code, w.Body)
	}
	if got := strings.Join(a.rec.calls, ";"); got != "Authorize seller:sell-1 1" {
		t.Fatalf("calls %q: want only Authorize", got)
	}
}

// TestIngestAnswersEveryEvent: a batch gets one result per event in order
// with the caller's role passed on (a reseller's orders); a single event's
// id goes to the access log.
func TestIngestAnswersEveryEvent(t *testing.T) {
	a := newAPI(t)
	second := strings.Replace(anEvent, `"id":"e1"`, `"id":"e2"`, 1)
	w := a.do("POST", "/v1/events", tokResA, "["+anEvent+","+second+"]")
	var got struct {
		Results []struct{ ID, Status string } `json:"results"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || w.Code != http.StatusAccepted || len(got.Results) != 2 ||
		got.Results[0].ID != "e1" || got.Results[1].ID != "e2" || got.Results[0].Status != "accepted" {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if !strings.Contains(strings.Join(a.rec.calls, ";"), "Publish reseller:res-a 2") {
		t.Fatalf("calls %v", a.rec.calls)
	}
	a.do("POST", "/v1/events", tokSell1, anEvent)
	if !strings.Contains(a.logs.String(), `"event_id":"e1","status":202`) {
		t.Fatalf("the access log lacks the event id:\n%s", a.logs)
	}
}

// TestIngestCountsRefusalsByReason: every refused publish counts under its
// error code on /metrics.
func TestIngestCountsRefusalsByReason(t *testing.T) {
	a := newAPI(t)
	a.do("POST", "/v1/events", "", anEvent)
	a.do("POST", "/v1/events", adminToken, anEvent)
	a.do("POST", "/v1/events", tokSell1, tooLarge)
	a.do("POST", "/v1/events", tokSell1, "{")
	a.do("POST", "/v1/events", tokSell1, "{}")
	a.rec.err = fmt.Errorf("publish: %w", events.ErrStorageFull)
	a.do("POST", "/v1/events", tokSell1, anEvent)
	w := a.do("GET", "/metrics", "", "")
	for _, reason := range []string{"unauthorized", "forbidden", "too_large", "malformed", "invalid", "storage_full"} {
		if line := `billrelay_ingest_rejected_total{reason="` + reason + `"} 1`; !strings.Contains(w.Body.String(), line) {
			t.Errorf("/metrics lacks %s:\n%s", line, w.Body)
		}
	}
}
