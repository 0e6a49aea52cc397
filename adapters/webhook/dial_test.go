package webhook

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/registry"
)

// counting is a real receiver on 127.0.0.1 that counts what reaches it.
func counting(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		if h != nil {
			h(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func post(t *testing.T, c *http.Client, url string) (*http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader("{}"))
	resp, err := c.Do(req)
	if err == nil {
		resp.Body.Close()
	}
	return resp, err
}

// TestClientChecksTheDialledAddress: under a tenant's policy neither the
// loopback address nor a name resolving to it is dialled; the allowance
// admits both, since what counts is the address dialled.
func TestClientChecksTheDialledAddress(t *testing.T) {
	srv, hits := counting(t, nil)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	byName := "http://localhost:" + port + "/tmf"
	for _, target := range []string{srv.URL, byName} {
		_, err := post(t, NewClient(registry.CallbackPolicy{}), target)
		if !errors.Is(err, registry.ErrAddressRefused) || !errors.Is(err, relay.ErrPermanent) || !strings.Contains(err.Error(), "loopback") {
			t.Fatalf("%s: err = %v, want the address refused", target, err)
		}
	}
	if hits.Load() != 0 {
		t.Fatalf("the receiver got %d requests under the tenant policy", hits.Load())
	}
	allowed := NewClient(registry.CallbackPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	for _, target := range []string{srv.URL, byName} {
		if resp, err := post(t, allowed, target); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s allowed: %v", target, err)
		}
	}
	if hits.Load() != 2 {
		t.Fatalf("the receiver got %d requests once allowed, want 2", hits.Load())
	}
}

// TestClientFollowsNoRedirect: a receiver cannot send the relay on to
// another address with a 3xx.
func TestClientFollowsNoRedirect(t *testing.T) {
	inner, hits := counting(t, nil)
	outer, _ := counting(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, inner.URL+"/admin", http.StatusTemporaryRedirect)
	})
	c := NewClient(registry.CallbackPolicy{Private: true})
	resp, err := post(t, c, outer.URL)
	if err != nil || resp.StatusCode != http.StatusTemporaryRedirect {
		t.Fatalf("redirecting receiver: %v %v", resp, err)
	}
	if hits.Load() != 0 {
		t.Fatal("the redirect was followed")
	}
}

// TestDeliveryErrorsCarryNoSecret: a failed delivery's error (which goes
// to logs, dead letters and status answers) has neither the userinfo nor
// the query of the URL.
func TestDeliveryErrorsCarryNoSecret(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // a closed port: the connection is refused
	for target, shown := range map[string]string{
		"http://us3r:pa55w0rd@" + addr + "/hook?token=s3cr3t":     "http://***@" + addr + "/hook?token=***",
		"http://us3r:pa55w0rd@" + addr + "/hook\x7f?token=s3cr3t": "(unparseable URL)", // fails while building the request
	} {
		s, _ := New(Config{URL: target, Secrets: func() []string { return nil }, Timeout: 5 * time.Second})
		err := s.Deliver(context.Background(), relay.Message{ID: "evt-1", Body: []byte("{}")})
		if err == nil {
			t.Fatalf("%q delivered", target)
		}
		for _, secret := range []string{"us3r", "pa55w0rd", "s3cr3t"} {
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("error %q carries %q", err, secret)
			}
		}
		if !strings.Contains(err.Error(), shown) {
			t.Fatalf("error %q does not say where it posted", err)
		}
	}
}
