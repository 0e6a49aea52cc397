package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/billrelay/billrelay/events"
	"github.com/rs/zerolog"
)

func TestWriteErrorNeverLeaksInternals(t *testing.T) {
	var logs strings.Builder
	log := zerolog.New(&logs)
	tests := []struct {
		err    error
		status int
		code   string
	}{
		{errors.New("nats: secret internal detail"), 500, "internal"},
		{fmt.Errorf("publish: %w: %w", events.ErrStorageFull, errors.New("nats: insufficient resources")), 507, "storage_full"},
		{fmt.Errorf("publish: %w: %w", events.ErrUnavailable, errors.New("nats: timeout")), 503, "unavailable"},
		{events.Invalid("id", "required"), 422, "invalid"},
		{fmt.Errorf("%w: 512 pulls already wait", events.ErrTooMany), 429, "too_many"},
	}
	for _, tc := range tests {
		w := httptest.NewRecorder()
		writeError(w, httptest.NewRequest("POST", "/v1/events", nil), log, tc.err)
		var body errorBody
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != tc.status || body.Error.Code != tc.code {
			t.Fatalf("%v → %d %s", tc.err, w.Code, w.Body)
		}
		if strings.Contains(w.Body.String(), "nats:") {
			t.Fatalf("internal text leaked: %s", w.Body)
		}
		if tc.status >= 500 && (body.Error.ErrorID == "" || !strings.Contains(logs.String(), body.Error.ErrorID)) {
			t.Fatalf("error_id %q not in the log", body.Error.ErrorID)
		}
		if (tc.status == http.StatusServiceUnavailable || tc.status == http.StatusTooManyRequests) && w.Header().Get("Retry-After") == "" {
			t.Fatalf("%d without Retry-After", tc.status)
		}
	}
}
