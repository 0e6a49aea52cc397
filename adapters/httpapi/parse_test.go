package httpapi

import (
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/ops"
	"github.com/billrelay/billrelay/relay/pull"
)

func TestPullParams(t *testing.T) {
	tests := []struct {
		query   string
		max     int
		wait    string
		wantErr bool
	}{
		{"", 100, "0s", false},
		{"max=5&wait=1500ms", 5, "1.5s", false},
		{"wait=5m", 100, "1m0s", false},
		{"max=0", 0, "", true},
		{"max=1001", 0, "", true},
		{"max=x", 0, "", true},
		{"wait=-1s", 0, "", true},
		{"wait=soon", 0, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			max, wait, err := pullParams(httptest.NewRequest("GET", "/?"+tc.query, nil))
			if tc.wantErr {
				if !errors.Is(err, events.ErrMalformed) {
					t.Fatalf("err = %v, want ErrMalformed", err)
				}
				return
			}
			if err != nil || max != tc.max || wait.String() != tc.wait {
				t.Fatalf("got %d %v %v, want %d %s", max, wait, err, tc.max, tc.wait)
			}
		})
	}
}

func knownKind(err error) bool {
	for _, k := range kinds {
		if errors.Is(err, k.kind) {
			return true
		}
	}
	return false
}

// FuzzPullParams: any query either parses within the contract's bounds or
// is refused with a field error.
func FuzzPullParams(f *testing.F) {
	f.Add("max=5&wait=2s")
	f.Add("max=-1&wait=1h")
	f.Add("wait=1e9h")
	f.Fuzz(func(t *testing.T, q string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.URL.RawQuery = q
		max, wait, err := pullParams(r)
		if err != nil {
			if !knownKind(err) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if max < 1 || max > relay.MaxPull || wait < 0 || wait > relay.MaxPullWait {
			t.Fatalf("out of bounds: max=%d wait=%v", max, wait)
		}
	})
}

// FuzzDecodeBodies: any body given to the admin and ack decoders is either
// decoded or refused with a classified error (so it maps to a 4xx).
func FuzzDecodeBodies(f *testing.F) {
	f.Add([]byte(`{"id":"res-a","seller":"sell-1","accounts":["acc-77"]}`))
	f.Add([]byte(`{"ack":["x"],"nak":[{"ack_id":"y","delay":"1s"}],"term":[{"ack_id":"z","reason":"r"}]}`))
	f.Add([]byte(`{"accounts":5}`))
	f.Add([]byte(`{"x":1}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"url":"https://r.example/hook","secret":"whsec_x","concurrency":4}`))
	f.Add([]byte(`{"reason":"maintenance","until":"2026-11-22T10:00:00Z"}`))
	f.Add([]byte(`{"items":[{"seller":"s","account":"a","item":"i"}],"since":"2026-11-01T00:00:00Z"}`))
	f.Add([]byte(`{"event":{"type":"provisioning.completed"},"reason":"r","actor":"a"}`))
	f.Add([]byte(`{"seller":"s","account":"a","item":"i"}`))
	f.Add([]byte(`{"cidrs":["10.20.0.0/16","fd12::/48"]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, v := range []any{&sellerRequest{}, &relay.ResellerSpec{}, &relay.WebhookSpec{}, &pauseRequest{},
			&redriveRequest{}, &relay.Notify{}, &ops.ReplayRequest{}, &reconcileRequest{}, &ops.Override{},
			&events.Key{}, &pull.AckRequest{}, &callbackAllow{}} {
			if err := decodeJSON(b, v); err != nil && !knownKind(err) {
				t.Fatalf("unclassified error for %q: %v", b, err)
			}
		}
	})
}
