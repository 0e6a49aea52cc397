package webhook

import (
	"net/http"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// TestSignMatchesTheSpecVector uses the signing example published with
// the Standard Webhooks libraries.
func TestSignMatchesTheSpecVector(t *testing.T) {
	got := Sign([]string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("signature %q, want %q", got, want)
	}
}

// FuzzSignVerifies: whatever the id and body, the Standard Webhooks
// library accepts what Sign produced, with each of two secrets.
func FuzzSignVerifies(f *testing.F) {
	f.Add("evt-1", []byte(`{"a":1}`))
	f.Add("", []byte{})
	f.Fuzz(func(t *testing.T, id string, body []byte) {
		if id == "" {
			return // the library refuses an empty webhook-id
		}
		secrets := []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_dGhpcyBpcyBhIHNlY29uZCBzZWNyZXQgISE="}
		ts := time.Now().Unix()
		h := http.Header{}
		h.Set("webhook-id", id)
		h.Set("webhook-timestamp", itoa(ts))
		h.Set("webhook-signature", Sign(secrets, id, ts, body))
		for _, s := range secrets {
			v, _ := standardwebhooks.NewWebhook(s)
			if err := v.Verify(body, h); err != nil {
				t.Fatalf("secret %s…: %v", s[:10], err)
			}
		}
	})
}

func itoa(n int64) string {
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
