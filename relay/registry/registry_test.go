package registry

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
)

// TestRegisterAcrossRelays: what one relay registers, another relay on
// the same bucket sees through its own watch; tokens authenticate on both;
// ids are one namespace; bad specs name their fields and store nothing.
func TestRegisterAcrossRelays(t *testing.T) {
	js := startJetStream(t)
	kv := registryBucket(t, js)
	a, b := openNode(t, js, kv, 1), openNode(t, js, kv, 1)
	ctx := testCtx(t)

	seller, sellerToken, err := a.reg.RegisterSeller(ctx, "sell-1")
	if err != nil {
		t.Fatalf("RegisterSeller: %v", err)
	}
	if !strings.HasPrefix(sellerToken, sellerTokenPrefix) || seller.TokenSHA256 != HashToken(sellerToken) {
		t.Fatalf("seller token %q, hash %q", sellerToken, seller.TokenSHA256)
	}
	waitFor(t, b.view, "relay b sees sell-1", func() bool { return b.view.Taken("sell-1") })
	rs, cred, err := b.reg.RegisterReseller(ctx, relay.ResellerSpec{ID: "res-1", Seller: "sell-1", Accounts: []string{"acc-2", "acc-1", "acc-2"}})
	if err != nil {
		t.Fatalf("RegisterReseller: %v", err)
	}
	if fmt.Sprint(rs.Accounts) != "[acc-1 acc-2]" || rs.Stream != relay.StreamDelivery || rs.NATSBcrypt == "" {
		t.Fatalf("reseller = %+v", rs)
	}
	waitFor(t, a.view, "relay a sees res-1", func() bool { return a.view.Taken("res-1") })
	for _, n := range []*node{a, b} {
		if p, ok := n.reg.Authenticate(cred.Token); !ok || p != (relay.Principal{Role: relay.RoleReseller, ID: "res-1"}) {
			t.Fatalf("Authenticate(reseller token) = %+v %v", p, ok)
		}
		if p, ok := n.reg.Authenticate(sellerToken); !ok || p.Role != relay.RoleSeller {
			t.Fatalf("Authenticate(seller token) = %+v %v", p, ok)
		}
		if _, ok := n.reg.Authenticate(""); ok {
			t.Fatal("an empty token authenticates")
		}
	}
	if got := fmt.Sprint(a.consumers.synced, b.consumers.synced); got != `[seller "sell-1" on ORDERS] [reseller "res-1" on DELIVERY]` {
		t.Fatalf("consumers synced: %s", got)
	}

	if _, _, err := a.reg.RegisterSeller(ctx, "res-1"); !errors.Is(err, events.ErrConflict) {
		t.Fatalf("seller named like a reseller: %v, want a conflict", err)
	}
	_, _, err = a.reg.RegisterReseller(ctx, relay.ResellerSpec{ID: "Bad Id", Seller: "nobody", Accounts: []string{"ok", "no way"},
		Webhook: &relay.WebhookSpec{URL: "ftp://x"}})
	if got := fmt.Sprint(fieldsOf(t, err)); got != "[id seller accounts[1] webhook.url]" {
		t.Fatalf("fields = %s", got)
	}
	if _, err := a.reg.Reseller("Bad Id"); !errors.Is(err, events.ErrNotFound) {
		t.Fatalf("a refused reseller was stored: %v", err)
	}
	if _, err := a.reg.Seller("nobody"); !errors.Is(err, events.ErrNotFound) {
		t.Fatalf("Seller(nobody) = %v", err)
	}
}

// TestRegisterResellerWithWebhook: the webhook goes through the push
// part's check and apply, and its secret comes back once.
func TestRegisterResellerWithWebhook(t *testing.T) {
	js := startJetStream(t)
	a := openNode(t, js, registryBucket(t, js), 1)
	ctx := testCtx(t)
	if _, _, err := a.reg.RegisterSeller(ctx, "sell-1"); err != nil {
		t.Fatalf("RegisterSeller: %v", err)
	}
	rs, cred, err := a.reg.RegisterReseller(ctx, relay.ResellerSpec{ID: "res-1", Seller: "sell-1", Accounts: []string{"acc-1"},
		Webhook: &relay.WebhookSpec{URL: "http://10.1.2.3/hook"}}) // private: an admin's webhook may
	if err != nil {
		t.Fatalf("RegisterReseller: %v", err)
	}
	if !strings.HasPrefix(cred.WebhookSecret, "whsec_") || rs.Webhook == nil || rs.Webhook.URL != "http://10.1.2.3/hook" ||
		rs.Webhook.Secrets[0].Value != cred.WebhookSecret {
		t.Fatalf("webhook = %+v, secret %q", rs.Webhook, cred.WebhookSecret)
	}
	_, _, err = a.reg.RegisterReseller(ctx, relay.ResellerSpec{ID: "res-2", Seller: "sell-1", Accounts: []string{"acc-1"},
		Webhook: &relay.WebhookSpec{URL: "http://169.254.169.254/"}})
	if got := fmt.Sprint(fieldsOf(t, err)); got != "[webhook.url]" {
		t.Fatalf("metadata address: fields %s", got)
	}
}

// TestUpdateIsCompareAndSet: concurrent changes from two relays are all
// kept (a lost race retries on the new value); a refused change and an
// unknown record write nothing.
func TestUpdateIsCompareAndSet(t *testing.T) {
	js := startJetStream(t)
	kv := registryBucket(t, js)
	a, b := openNode(t, js, kv, 1), openNode(t, js, kv, 1)
	ctx := testCtx(t)
	if _, _, err := a.reg.RegisterSeller(ctx, "sell-1"); err != nil {
		t.Fatalf("RegisterSeller: %v", err)
	}
	if _, _, err := a.reg.RegisterReseller(ctx, relay.ResellerSpec{ID: "res-1", Seller: "sell-1", Accounts: []string{"acc-0"}}); err != nil {
		t.Fatalf("RegisterReseller: %v", err)
	}
	waitFor(t, b.view, "relay b sees res-1", func() bool { return b.view.Taken("res-1") })
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for i := range 6 {
		n := []*node{a, b}[i%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := n.reg.UpdateReseller(ctx, "res-1", func(rs *relay.Reseller) error {
				rs.Accounts = append(rs.Accounts, fmt.Sprintf("acc-%d", i+1))
				return nil
			})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("UpdateReseller: %v", err)
		}
	}
	// An update waits for the view of the relay that made it; a's view
	// catches up with b's last one by its watch. A lost change never
	// arrives, and the wait gives up.
	waitFor(t, a.view, "a sees all six changes", func() bool {
		rs, _ := a.view.Reseller("res-1")
		return len(rs.Accounts) == 7
	})
	rs, _ := a.reg.Reseller("res-1")
	slices.Sort(rs.Accounts)
	if fmt.Sprint(rs.Accounts) != "[acc-0 acc-1 acc-2 acc-3 acc-4 acc-5 acc-6]" {
		t.Fatalf("accounts = %v: a concurrent change was lost", rs.Accounts)
	}

	refused := errors.New("no")
	if _, err := a.reg.UpdateReseller(ctx, "res-1", func(rs *relay.Reseller) error { rs.Paused = true; return refused }); !errors.Is(err, refused) {
		t.Fatalf("refused change: %v", err)
	}
	if rs, _ := a.reg.Reseller("res-1"); rs.Paused {
		t.Fatal("a refused change was stored")
	}
	if _, err := a.reg.UpdateSeller(ctx, "nobody", func(*relay.Seller) error { return nil }); !errors.Is(err, events.ErrNotFound) {
		t.Fatalf("unknown seller: %v", err)
	}
	ep, err := a.reg.SetState(ctx, relay.Destination{Role: relay.RoleSeller, ID: "sell-1"}, func(_ **relay.Webhook, paused *bool, why *string) {
		*paused, *why = true, "maintenance"
	})
	if err != nil || !ep.Paused || ep.Stream != relay.StreamOrders {
		t.Fatalf("SetState = %+v, %v", ep, err)
	}
	if s, _ := a.reg.Seller("sell-1"); s.PauseReason != "maintenance" {
		t.Fatalf("seller = %+v", s)
	}
}

// TestCallbackSettings: the callback allowance is stored canonical and
// joins the policy of the reseller's endpoint; notification settings are
// checked field by field; both are audited.
func TestCallbackSettings(t *testing.T) {
	js := startJetStream(t)
	a := openNode(t, js, registryBucket(t, js), 1)
	ctx := testCtx(t)
	if _, _, err := a.reg.RegisterSeller(ctx, "sell-1"); err != nil {
		t.Fatalf("RegisterSeller: %v", err)
	}
	if _, _, err := a.reg.RegisterReseller(ctx, relay.ResellerSpec{ID: "res-1", Seller: "sell-1", Accounts: []string{"acc-1"}}); err != nil {
		t.Fatalf("RegisterReseller: %v", err)
	}

	_, err := a.reg.SetCallbackAllow(ctx, "res-1", []string{"10.0.0.0/8", "nope", "fe80::1%eth0"})
	if got := fmt.Sprint(fieldsOf(t, err)); got != "[cidrs[1] cidrs[2]]" {
		t.Fatalf("bad prefixes: fields %s", got)
	}
	canon, err := a.reg.SetCallbackAllow(ctx, "res-1", []string{" 10.20.30.40/16", "192.168.1.7", "10.20.0.0/16"})
	if err != nil || fmt.Sprint(canon) != "[10.20.0.0/16 192.168.1.7/32]" {
		t.Fatalf("SetCallbackAllow = %v, %v", canon, err)
	}
	ep, err := a.reg.EndpointOf(relay.RoleReseller, "res-1")
	if err != nil {
		t.Fatalf("EndpointOf: %v", err)
	}
	tenant := a.reg.CallbackPolicy(ep, true)
	if tenant.String() != "private=false allow=10.20.0.0/16,192.168.1.7/32" {
		t.Fatalf("tenant policy = %s", tenant)
	}

	_, err = a.reg.SetNotify(ctx, "sell-1", relay.Notify{PrimaryContact: "not mail", Bcc: []string{"ok@example.com", "@"}, CCPrimary: true})
	if got := fmt.Sprint(fieldsOf(t, err)); got != "[primary_contact bcc[1] webhook_url]" {
		t.Fatalf("bad notify: fields %s", got)
	}
	secret, err := a.reg.SetNotify(ctx, "sell-1", relay.Notify{WebhookURL: "https://billing.example/notify"})
	if err != nil || !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("SetNotify = %q, %v", secret, err)
	}
	if s, _ := a.reg.Seller("sell-1"); s.Notify == nil || s.Notify.Secret != secret {
		t.Fatalf("seller notify = %+v", s.Notify)
	}
	if got := fmt.Sprint(a.audit.actions()); got != "[callback_allow.set res-1 notify.set seller/sell-1]" {
		t.Fatalf("audit = %s", got)
	}
	if got := len(a.reg.Endpoints()); got != 2 {
		t.Fatalf("endpoints = %d, want 2", got)
	}
}
