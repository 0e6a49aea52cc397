package relay_test

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
)

type note struct {
	Event string `json:"event"`
	N     int    `json:"n"`
}

// FuzzDecodeJSON: whatever a platform posts, DecodeJSON either reads a
// note or answers ErrMalformed; an unknown field is never accepted.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{"event":"x","n":1}`, `{"event":"x","extra":1}`, `{"n":"one"}`, `[]`, `null`, ``, `{`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest("POST", "/", strings.NewReader(body))
		_, err := relay.DecodeJSON[note](r)
		if err != nil && !errors.Is(err, events.ErrMalformed) {
			t.Fatalf("error %v is not ErrMalformed", err)
		}
		var fields map[string]json.RawMessage
		if err == nil && json.Unmarshal([]byte(body), &fields) == nil {
			for k := range fields {
				if k != "event" && k != "n" && !strings.EqualFold(k, "event") && !strings.EqualFold(k, "n") {
					t.Fatalf("accepted the unknown field %q in %q", k, body)
				}
			}
		}
	})
}
