package webhook

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
	"syscall"
	"time"

	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/registry"
)

// NewClient returns an HTTP client for callbacks that dials only what p
// admits: every connection's address is checked after resolution, right
// before connecting, so neither a name pointing inward nor one rebinding
// between checks gets through. No redirect is followed (a 3xx is a failure,
// as Standard Webhooks says, and a redirect could point anywhere).
// A tenant's targets (p.Private false) are dialled directly, never through
// HTTP(S)_PROXY: the relay cannot check what a proxy connects to. An
// admin's webhooks keep the environment's proxy.
func NewClient(p registry.CallbackPolicy) *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: guard(p)}
	tr := &http.Transport{
		DialContext: dialer.DialContext, MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second, TLSHandshakeTimeout: 10 * time.Second,
	}
	if p.Private {
		tr.Proxy = http.ProxyFromEnvironment
	}
	return &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport:     tr,
	}
}

// guard is the dialer's Control: it sees the IP and port being connected.
func guard(p registry.CallbackPolicy) func(network, address string, _ syscall.RawConn) error {
	return func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("%w: %w: %q is not an IP address", relay.ErrPermanent, registry.ErrAddressRefused, address)
		}
		return p.Check(ap.Addr())
	}
}

// Clients hands out one client per policy: endpoints under the same policy
// share connections, endpoints under different ones never do (a connection
// dialled under a wider allowance must not serve a narrower one).
type Clients struct {
	mu sync.Mutex
	m  map[string]*http.Client
}

// For returns the client of policy p.
func (c *Clients) For(p registry.CallbackPolicy) *http.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]*http.Client{}
	}
	key := p.String()
	if c.m[key] == nil {
		c.m[key] = NewClient(p)
	}
	return c.m[key]
}

// PostError describes a failed request to target without repeating the
// URL as given: net/http's errors quote it whole, query and user included,
// and these errors reach logs, dead letters and status answers.
func PostError(target string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("post to %s: %w", registry.RedactURL(target), err)
}
