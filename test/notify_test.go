package test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/billrelay/billrelay/test/harness"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// TestProvisioningFailureNotifiedOnce: a provisioning failure reaches the
// configured people once, as a signed webhook and by e-mail, with To the
// acting user, Cc the seller's primary contact and Bcc the extra address.
func TestProvisioningFailureNotifiedOnce(t *testing.T) {
	smtp := harness.StartSMTP(t)
	h := newHook(t)
	w := startShared(t, "RELAY_SMTP_ADDR="+smtp.Addr, "RELAY_SMTP_FROM=relay@provider.example")
	status, out := w.r.Do(http.MethodPut, "/v1/sellers/sell-1/notifications", harness.AdminToken, map[string]any{
		"webhook_url": h.srv.URL, "primary_contact": "seller-ops@provider.example", "cc_primary": true,
		"bcc": []string{"audit@provider.example"}, "email": true})
	var cfg struct {
		Secret string `json:"webhook_secret"`
	}
	if status != 200 || json.Unmarshal(out, &cfg) != nil || cfg.Secret == "" {
		t.Fatalf("notifications: %d %s", status, out)
	}
	fail := harness.Event("pf-1", "sell-1", "acc-77", "1000013", "provisioning.failed", "failed")
	fail["data"] = map[string]any{"state": "failed", "user_email": "jane@reseller.example",
		"error": map[string]any{"code": "IssuedSuccessfully=0", "message": "Subscription #1000013 already exists", "retryable": false}}
	w.r.Publish(w.seller, []any{fail, harness.StateChange("ok-1", "sell-1", "acc-77", "2", "active")})
	w.r.Publish(w.seller, fail) // sent again: a duplicate, not a second notice

	rs := h.waitFor(t, "the notification webhook", func(rs []hookReq) bool { return len(rs) >= 1 })
	v, _ := standardwebhooks.NewWebhook(cfg.Secret)
	if err := v.Verify(rs[0].Body, rs[0].Header); err != nil {
		t.Fatalf("notification signature: %v", err)
	}
	var n struct {
		EventID    string `json:"event_id"`
		Summary    string
		Recipients struct{ To, Cc, Bcc []string }
	}
	_ = json.Unmarshal(rs[0].Body, &n)
	if n.EventID != "pf-1" || !strings.Contains(n.Summary, "already exists") || slices.Compare(n.Recipients.To, []string{"jane@reseller.example"}) != 0 ||
		slices.Compare(n.Recipients.Cc, []string{"seller-ops@provider.example"}) != 0 || slices.Compare(n.Recipients.Bcc, []string{"audit@provider.example"}) != 0 {
		t.Fatalf("notification %s", rs[0].Body)
	}
	mails := waitMail(t, smtp)
	m := mails[0]
	if !slices.Contains(m.To, "audit@provider.example") || !strings.Contains(m.Data, "Cc: seller-ops@provider.example") ||
		strings.Contains(m.Data, "audit@provider.example") || !strings.Contains(m.Data, "already exists") {
		t.Fatalf("mail %+v", m)
	}
	if got, _ := smtp.Mails(); len(got) != 1 || len(h.requests()) != 1 {
		t.Fatalf("%d mails and %d webhooks, want one each", len(got), len(h.requests()))
	}
}

func waitMail(t *testing.T, s *harness.SMTPSink) []harness.Mail {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		mails, ch := s.Mails()
		if len(mails) > 0 {
			return mails
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatal("no mail")
		}
	}
}
