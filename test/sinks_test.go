package test

import (
	"net/http"
	"testing"
	"time"

	"github.com/billrelay/billrelay/adapters/agent"
	"github.com/billrelay/billrelay/adapters/webhook"
	"github.com/billrelay/billrelay/relay/registry"
	"github.com/billrelay/billrelay/test/sinktest"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// TestWebhookSinkConformance runs the webhook sink through the suite with a
// receiver that verifies every request with the Standard Webhooks library.
func TestWebhookSinkConformance(t *testing.T) {
	sinktest.Run(t, func(t *testing.T) sinktest.Target {
		secret := registry.NewWebhookSecret()
		verifier, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		url, rec := sinktest.HTTPReceiver(t, func(r *http.Request, body []byte) error {
			return verifier.Verify(body, r.Header)
		})
		s, err := webhook.New(webhook.Config{URL: url, Secrets: func() []string { return []string{secret} }})
		if err != nil {
			t.Fatal(err)
		}
		return sinktest.Target{Sink: s, Receiver: rec}
	})
}

func TestAgentHTTPSinkConformance(t *testing.T) {
	sinktest.Run(t, func(t *testing.T) sinktest.Target {
		url, rec := sinktest.HTTPReceiver(t, nil)
		return sinktest.Target{Sink: &agent.HTTPSink{URL: url, Timeout: 10 * time.Second, Client: http.DefaultClient}, Receiver: rec}
	})
}

func TestAgentCommandSinkConformance(t *testing.T) {
	sinktest.Run(t, func(t *testing.T) sinktest.Target {
		cmd, rec := sinktest.CommandReceiver(t, "TestSinktestCommandHelper")
		return sinktest.Target{Sink: &agent.CommandSink{Command: cmd, TermExitCode: sinktest.TermExitCode, Timeout: 30 * time.Second}, Receiver: rec}
	})
}

// TestSinktestCommandHelper is the command receiver's process body; in a
// normal run it does nothing.
func TestSinktestCommandHelper(t *testing.T) { sinktest.CommandHelper() }
