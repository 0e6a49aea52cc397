// Package nodetest opens whole relays for tests: on a fresh data
// directory, with fsync before every acknowledgement, closed when the test
// ends, and with the sellers and resellers a test needs registered. The
// node's own tests, the HTTP API's live tests and the delivery conformance
// suite open relays through it instead of each writing the same steps.
package nodetest

import (
	"context"
	"testing"
	"time"

	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/node"
	"github.com/rs/zerolog"
)

// Open opens a relay on cfg and closes it when the test ends. An empty
// DataDir is a fresh temporary one; with neither SyncAlways nor a
// SyncInterval it fsyncs before every acknowledgement (the default of
// billrelay serve).
func Open(t testing.TB, cfg relay.Config) *node.Node {
	t.Helper()
	n := OpenLog(t, cfg, zerolog.Nop())
	t.Cleanup(func() { n.Close() })
	return n
}

// OpenLog is Open with a logger, and leaves closing to the caller (a test
// that restarts the relay on its data directory closes it itself).
func OpenLog(t testing.TB, cfg relay.Config, log zerolog.Logger) *node.Node {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if !cfg.SyncAlways && cfg.SyncInterval == 0 {
		cfg.SyncAlways = true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n, err := node.Open(ctx, cfg, log)
	if err != nil {
		t.Fatalf("open relay: %v", err)
	}
	return n
}

// Seller registers a seller and returns its principal and token.
func Seller(t testing.TB, n *node.Node, id string) (relay.Principal, string) {
	t.Helper()
	_, token, err := n.Registry().RegisterSeller(ctx(t), id)
	if err != nil {
		t.Fatalf("register seller %s: %v", id, err)
	}
	return relay.Principal{Role: relay.RoleSeller, ID: id}, token
}

// Reseller registers a reseller of seller on accounts and returns its
// credentials.
func Reseller(t testing.TB, n *node.Node, id, seller string, accounts ...string) relay.Credentials {
	t.Helper()
	_, cred, err := n.Registry().RegisterReseller(ctx(t), relay.ResellerSpec{ID: id, Seller: seller, Accounts: accounts})
	if err != nil {
		t.Fatalf("register reseller %s: %v", id, err)
	}
	return cred
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}
