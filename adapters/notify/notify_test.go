package notify

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/test/golden"
)

func TestBuildGolden(t *testing.T) {
	golden.Run(t, "testdata/golden", func(t *testing.T, _ string, in []byte) (any, error) {
		var c struct {
			Event  events.Event `json:"event"`
			Notify relay.Notify `json:"notify"`
		}
		if err := json.Unmarshal(in, &c); err != nil {
			t.Fatal(err)
		}
		n, ok := Build(c.Event, c.Notify)
		if !ok {
			return map[string]string{"skipped": "not a provisioning failure"}, nil
		}
		return n, nil
	})
}

// sinkFunc is a hand-written fake webhook.
type sinkFunc func(context.Context, relay.Message) error

func (f sinkFunc) Deliver(ctx context.Context, m relay.Message) error { return f(ctx, m) }

// TestOncePerFailure: the same failure delivered again (a redelivery of
// the tap's message) is not notified again; a failed send is retried.
func TestOncePerFailure(t *testing.T) {
	done := map[string]bool{}
	posts, fail := 0, true
	nt := &Notifier{
		Seller: func(string) (relay.Seller, error) {
			return relay.Seller{ID: "sell-1", Notify: &relay.Notify{WebhookURL: "http://x", Secret: "whsec_x"}}, nil
		},
		Done:     func(_ context.Context, k string) (bool, error) { return done[k], nil },
		MarkDone: func(_ context.Context, k string) error { done[k] = true; return nil },
		Webhook: func(string, string) (relay.Sink, error) {
			return sinkFunc(func(context.Context, relay.Message) error {
				posts++
				if fail {
					fail = false
					return errors.New("503")
				}
				return nil
			}), nil
		},
	}
	body := []byte(`{"specversion":"1.0","id":"pf","source":"/s","type":"provisioning.failed","seller":"sell-1","account":"a","item":"i","data":{"error":{"message":"m"}}}`)
	m := relay.Message{ID: "pf", Type: events.TypeProvisioningFailed, Body: body}
	if err := nt.Deliver(context.Background(), m); err == nil {
		t.Fatal("a failed send was not reported for a retry")
	}
	for range 3 {
		if err := nt.Deliver(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	if posts != 2 {
		t.Fatalf("%d posts, want the failed one and one success", posts)
	}
}

// TestMarksAreScopedBySeller: two sellers' failures under one id are two
// notices (ids are unique per seller only).
func TestMarksAreScopedBySeller(t *testing.T) {
	done := map[string]bool{}
	var sent []string
	nt := &Notifier{
		Seller: func(id string) (relay.Seller, error) {
			return relay.Seller{ID: id, Notify: &relay.Notify{WebhookURL: "http://x/" + id, Secret: "whsec_x"}}, nil
		},
		Done:     func(_ context.Context, k string) (bool, error) { return done[k], nil },
		MarkDone: func(_ context.Context, k string) error { done[k] = true; return nil },
		Webhook: func(url, _ string) (relay.Sink, error) {
			return sinkFunc(func(context.Context, relay.Message) error { sent = append(sent, url); return nil }), nil
		},
	}
	for _, seller := range []string{"sell-1", "sell-2", "sell-1"} {
		body := []byte(`{"specversion":"1.0","id":"1","source":"/s","type":"provisioning.failed","seller":"` + seller +
			`","account":"a","item":"i","data":{"error":{"message":"m"}}}`)
		if err := nt.Deliver(context.Background(), relay.Message{ID: "1", Type: events.TypeProvisioningFailed, Body: body}); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Join(sent, " ") != "http://x/sell-1 http://x/sell-2" {
		t.Fatalf("sent to %v, want each seller once", sent)
	}
}
