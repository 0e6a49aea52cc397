package httpapi_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/billrelay/billrelay/adapters/httpapi"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/metrics"
	"github.com/rs/zerolog"
)

// TestReadyzAnswersWhatHealthSays: down parts are a 503 naming them with
// Retry-After; any other failure of the check is an internal error with an
// error_id; none is 200.
func TestReadyzAnswersWhatHealthSays(t *testing.T) {
	a := newAPI(t)
	a.health.err = &relay.DownError{Parts: []string{"router: consumer deleted"}}
	w := a.do("GET", "/readyz", "", "")
	if e := parseError(t, w.Body.Bytes()); w.Code != 503 || e.Error.Code != "unavailable" ||
		e.Error.Message != "not running: router: consumer deleted" || w.Header().Get("Retry-After") != "1" {
		t.Fatalf("down: %d %s %v", w.Code, w.Body, w.Header())
	}
	a.health.err = errors.New("nats: no responders")
	w = a.do("GET", "/readyz", "", "")
	e := parseError(t, w.Body.Bytes())
	if w.Code != 500 || e.Error.ErrorID == "" || strings.Contains(w.Body.String(), "nats") {
		t.Fatalf("failing check: %d %s", w.Code, w.Body)
	}
	assertLogged(t, a.logs.String(), e.Error.ErrorID, "nats: no responders")
	a.health.err = nil
	if w := a.do("GET", "/readyz", "", ""); w.Code != 200 {
		t.Fatalf("ready: %d %s", w.Code, w.Body)
	}
}

// TestNewNamesTheMissingParts: a server without a part is refused at
// start, naming it, instead of failing on the first request that needs it.
func TestNewNamesTheMissingParts(t *testing.T) {
	a := newAPI(t)
	cfg := httpapi.Config{AdminToken: adminToken, Ingest: a.ingest, Admin: a.admin, Metrics: &metrics.Metrics{}}
	_, err := httpapi.New(cfg, zerolog.Nop())
	if err == nil || err.Error() != "httpapi: Config.Inbox, Config.Directory, Config.Health, Config.Metrics required" {
		t.Fatalf("New: %v", err)
	}
	cfg.AdminToken = ""
	if _, err := httpapi.New(cfg, zerolog.Nop()); err == nil || !strings.Contains(err.Error(), "admin token") {
		t.Fatalf("New without a token: %v", err)
	}
}
