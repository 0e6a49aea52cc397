package test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/billrelay/billrelay/adapters/agent"
	"github.com/billrelay/billrelay/adapters/tmf"
	"github.com/billrelay/billrelay/adapters/webhook"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/registry"
	"github.com/billrelay/billrelay/test/sinktest"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// httpFeatures are what every sink built on relay.ClassifyHTTP can do.
var httpFeatures = sinktest.Features{Gone: true, RetryAfter: true}

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
		f := httpFeatures
		f.Signed = true
		return sinktest.Target{Sink: s, Receiver: rec, Features: f}
	})
}

// TestHubSinkConformance runs the TMF hub sink through the suite: the
// receiver is a hub's listener that verifies the signature and that the
// body is the TMF notification of the event named by webhook-id.
func TestHubSinkConformance(t *testing.T) {
	sinktest.Run(t, func(t *testing.T) sinktest.Target {
		secret := registry.NewWebhookSecret()
		verifier, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		url, rec := sinktest.HTTPReceiver(t, func(r *http.Request, body []byte) error {
			if err := verifier.Verify(body, r.Header); err != nil {
				return err
			}
			var n struct {
				EventID   string `json:"eventId"`
				EventType string `json:"eventType"`
			}
			if err := json.Unmarshal(body, &n); err != nil || n.EventType != "ServiceStateChangeEvent" || n.EventID != r.Header.Get("webhook-id") {
				return fmt.Errorf("not the TMF notification of %s: %s (%v)", r.Header.Get("webhook-id"), body, err)
			}
			return nil
		})
		hub := relay.Hub{ID: "hub-1", API: tmf.APIInventory + "/v4", Callback: url, Secret: secret}
		s := &tmf.HubSink{Hubs: []relay.Hub{hub}, Client: webhook.NewClient(registry.CallbackPolicy{Private: true}), Timeout: 10 * time.Second}
		f := httpFeatures
		f.Signed = true
		return sinktest.Target{Sink: s, Receiver: rec, Features: f}
	})
}

func TestAgentHTTPSinkConformance(t *testing.T) {
	sinktest.Run(t, func(t *testing.T) sinktest.Target {
		url, rec := sinktest.HTTPReceiver(t, nil)
		return sinktest.Target{Sink: &agent.HTTPSink{URL: url, Timeout: 10 * time.Second, Client: http.DefaultClient}, Receiver: rec, Features: httpFeatures}
	})
}

func TestAgentCommandSinkConformance(t *testing.T) {
	sinktest.Run(t, func(t *testing.T) sinktest.Target {
		cmd, rec := sinktest.CommandReceiver(t, "TestSinktestCommandHelper")
		return sinktest.Target{Sink: &agent.CommandSink{Command: cmd, TermExitCode: sinktest.TermExitCode, Timeout: 30 * time.Second}, Receiver: rec}
	})
}

// TestPullPathConformance runs the suite over a real relay's pull API
// (Pull and Ack, as a puller or the agent in HTTP mode uses them): the
// pull path is served by the relay's core and needs its NATS. A rejected
// event must also reach the relay's dead letters.
func TestPullPathConformance(t *testing.T) {
	sinktest.Run(t, func(t *testing.T) sinktest.Target {
		sink, rec := sinktest.DirectReceiver()
		return sinktest.Target{Sink: sink, Receiver: rec, Features: httpFeatures, Backend: sinktest.RelayPull(t)}
	})
}

// TestSinktestCommandHelper is the command receiver's process body; in a
// normal run it does nothing.
func TestSinktestCommandHelper(t *testing.T) { sinktest.CommandHelper() }
