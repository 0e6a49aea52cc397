package registry

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// jsBuckets is the store part's side of Buckets on a real JetStream.
type jsBuckets struct{ js jetstream.JetStream }

func (b jsBuckets) EnsureBucket(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	return b.js.CreateOrUpdateKeyValue(ctx, cfg)
}

func openOwners(t *testing.T, js jetstream.JetStream, view *View, audit *trail) *Owners {
	t.Helper()
	kv, err := jsBuckets{js}.EnsureBucket(testCtx(t), jetstream.KeyValueConfig{Bucket: relay.BucketOwners})
	if err != nil {
		t.Fatal(err)
	}
	o := NewOwners(testConfig(1), zerolog.Nop(), kv, view, audit.Audit)
	w := o.Watch()
	if err := w.Open(testCtx(t)); err != nil {
		t.Fatalf("Owners.Open: %v", err)
	}
	runPart(t, w.Run)
	return o
}

// waitOwner polls o until k's owner is want ("" for none).
func waitOwner(t *testing.T, o *Owners, k events.Key, want string) {
	t.Helper()
	ctx := testCtx(t)
	for {
		if got, _ := o.Owner(k); got == want {
			return
		}
		select {
		case <-ctx.Done():
			got, _ := o.Owner(k)
			t.Fatalf("owner of %v = %q, want %q", k, got, want)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestOwners: the first order makes its reseller the owner, on every relay;
// an owner gets its item's events alone while it is on the account; an
// admin may set an owner only among the account's resellers, and clear it.
func TestOwners(t *testing.T) {
	js := startJetStream(t)
	view := NewView()
	view.Apply(put(1, keyReseller+"r1", relay.Reseller{ID: "r1", Seller: "s1", Accounts: []string{"a1"}}), zerolog.Nop())
	view.Apply(put(2, keyReseller+"r2", relay.Reseller{ID: "r2", Seller: "s1", Accounts: []string{"a1"}}), zerolog.Nop())
	view.Apply(put(3, keyReseller+"r3", relay.Reseller{ID: "r3", Seller: "s1", Accounts: []string{"a2"}}), zerolog.Nop())
	audit := &trail{}
	a, b := openOwners(t, js, view, audit), openOwners(t, js, NewView(), audit)
	ctx := testCtx(t)
	k := events.Key{Seller: "s1", Account: "a1", Item: "i1"}

	if got := fmt.Sprint(a.Recipients(k)); got != "[r1 r2]" {
		t.Fatalf("no owner: recipients %s", got)
	}
	if err := a.LearnOwner(ctx, k, "r2"); err != nil {
		t.Fatalf("LearnOwner: %v", err)
	}
	if err := b.LearnOwner(ctx, k, "r1"); err != nil {
		t.Fatalf("second LearnOwner: %v", err)
	}
	waitOwner(t, a, k, "r2")
	waitOwner(t, b, k, "r2") // the first order won, on both relays
	if got := fmt.Sprint(a.Recipients(k)); got != "[r2]" {
		t.Fatalf("owned: recipients %s", got)
	}

	if err := a.SetOwner(ctx, k, "r3"); !errors.Is(err, events.ErrInvalid) {
		t.Fatalf("owner off the account: %v", err)
	}
	if err := a.SetOwner(ctx, k, "nobody"); !errors.Is(err, events.ErrNotFound) {
		t.Fatalf("unknown owner: %v", err)
	}
	if err := a.SetOwner(ctx, k, "r1"); err != nil {
		t.Fatalf("SetOwner: %v", err)
	}
	waitOwner(t, b, k, "r1")
	if err := b.ClearOwner(ctx, k); err != nil {
		t.Fatalf("ClearOwner: %v", err)
	}
	waitOwner(t, a, k, "")
	if err := b.ClearOwner(ctx, k); err != nil {
		t.Fatalf("ClearOwner of no owner: %v", err)
	}
	if got := fmt.Sprint(audit.actions()); got != "[owner.set s1/a1/i1 owner.clear s1/a1/i1 owner.clear s1/a1/i1]" {
		t.Fatalf("audit = %s", got)
	}

	// An owner that left the account no longer holds the item's events.
	if err := a.LearnOwner(ctx, k, "r2"); err != nil {
		t.Fatalf("LearnOwner: %v", err)
	}
	waitOwner(t, a, k, "r2")
	view.Apply(put(4, keyReseller+"r2", relay.Reseller{ID: "r2", Seller: "s1", Accounts: []string{"a2"}}), zerolog.Nop())
	if got := fmt.Sprint(a.Recipients(k)); got != "[r1]" {
		t.Fatalf("owner gone from the account: recipients %s", got)
	}
}

// TestOwnerKeys: an owner key reads back as its item key, whatever the
// item id holds; anything else is not an owner key.
func TestOwnerKeys(t *testing.T) {
	for _, k := range []events.Key{{Seller: "s", Account: "a", Item: "i"}, {Seller: "s.1", Account: "a/b", Item: "i 1*>"}} {
		if got, ok := keyOfOwnerKey(ownerKey(k)); !ok || got != k {
			t.Fatalf("round trip of %v = %v %v", k, got, ok)
		}
	}
	for _, s := range []string{"", "!!", ownerKey(events.Key{Seller: "s"})[:2]} {
		if k, ok := keyOfOwnerKey(s); ok {
			t.Fatalf("keyOfOwnerKey(%q) = %v", s, k)
		}
	}
}
