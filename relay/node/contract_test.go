package node

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/billrelay/billrelay/relay"
)

func TestClassifyHTTP(t *testing.T) {
	tests := []struct {
		status     int
		retryAfter string
		want       error // nil, ErrGone, ErrPermanent, or errRetry
		after      time.Duration
	}{
		{200, "", nil, 0}, {204, "", nil, 0},
		{410, "", relay.ErrGone, 0},
		{400, "", relay.ErrPermanent, 0}, {404, "", relay.ErrPermanent, 0}, {422, "", relay.ErrPermanent, 0},
		{408, "", errRetry, 0}, {500, "", errRetry, 0}, {502, "", errRetry, 0}, {301, "", errRetry, 0},
		{429, "7", errRetry, 7 * time.Second}, {503, "2", errRetry, 2 * time.Second}, {503, "", errRetry, 0},
	}
	for _, tc := range tests {
		err := relay.ClassifyHTTP(tc.status, http.Header{"Retry-After": {tc.retryAfter}}, "body")
		var ra *relay.RetryAfterError
		switch {
		case tc.want == nil && err != nil:
			t.Errorf("%d: %v, want delivered", tc.status, err)
		case tc.want == errRetry && (err == nil || errors.Is(err, relay.ErrGone) || errors.Is(err, relay.ErrPermanent)):
			t.Errorf("%d: %v, want a retry", tc.status, err)
		case tc.want != nil && tc.want != errRetry && !errors.Is(err, tc.want):
			t.Errorf("%d: %v, want %v", tc.status, err, tc.want)
		case tc.after > 0 && (!errors.As(err, &ra) || ra.After != tc.after):
			t.Errorf("%d Retry-After %s: %v", tc.status, tc.retryAfter, err)
		}
	}
}

var errRetry = errors.New("retry")

// FuzzRetryAfter: the header parser never panics and never returns a
// negative delay.
func FuzzRetryAfter(f *testing.F) {
	f.Add("120")
	f.Add("Wed, 21 Oct 2015 07:28:00 GMT")
	f.Add("-5")
	f.Fuzz(func(t *testing.T, v string) {
		if d, ok := relay.RetryAfter(v, time.Now()); ok && d < 0 {
			t.Fatalf("%q → %v", v, d)
		}
	})
}
