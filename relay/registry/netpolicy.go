package registry

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/billrelay/billrelay/relay"
)

// ErrAddressRefused marks a callback whose address the relay will not
// dial: the target would turn the relay against its own network.
var ErrAddressRefused = errors.New("callback address refused")

// CallbackPolicy says which addresses the relay may dial for one
// endpoint. It is checked on every connection, against the IP actually
// dialled, so that a name resolving (or rebinding) to an inner address is
// caught as surely as the address written out.
type CallbackPolicy struct {
	// Private admits loopback, private (RFC 1918), unique-local and CGNAT
	// addresses: targets an admin registered (webhooks), which may well be
	// a billing node on the same network. Targets a tenant registered (TMF
	// hubs) never get it.
	Private bool
	// Allow admits these prefixes whatever their class (RELAY_CALLBACK_ALLOW
	// and the reseller's callback_allow). A cloud metadata address is
	// admitted only by a prefix that is that one address, never through a
	// wider range.
	Allow []netip.Prefix
}

// addrClass is one range the policy refuses by default.
type addrClass struct {
	name    string
	private bool // admitted by CallbackPolicy.Private
	nets    []netip.Prefix
}

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// metadataAddrs are the cloud instance metadata services (AWS, GCP, Azure,
// OpenStack on 169.254.169.254 and AWS's IPv6 one; Alibaba; Oracle). They
// hand out credentials, so they are refused even where their range is
// admitted.
var metadataAddrs = []netip.Addr{
	netip.MustParseAddr("169.254.169.254"), netip.MustParseAddr("fd00:ec2::254"),
	netip.MustParseAddr("100.100.100.200"), netip.MustParseAddr("192.0.0.192"),
}

// addrClasses are checked in order; the first that holds names the refusal.
var addrClasses = []addrClass{
	{name: "unspecified", nets: prefixes("0.0.0.0/8", "::/128")},
	{name: "loopback", private: true, nets: prefixes("127.0.0.0/8", "::1/128")},
	{name: "link-local", nets: prefixes("169.254.0.0/16", "fe80::/10")},
	{name: "multicast", nets: prefixes("224.0.0.0/4", "ff00::/8")},
	{name: "private", private: true, nets: prefixes("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")},
	{name: "unique-local", private: true, nets: prefixes("fc00::/7", "fec0::/10")},
	{name: "shared (CGNAT)", private: true, nets: prefixes("100.64.0.0/10")},
	{name: "reserved", nets: prefixes("240.0.0.0/4", "192.0.0.0/24", "2001::/32")},
}

// embeddedV4 are IPv6 forms that carry an IPv4 address the packets go to
// (IPv4-compatible, NAT64, 6to4): they are judged by that address.
var embeddedV4 = []struct {
	net    netip.Prefix
	offset int // byte offset of the IPv4 address
}{
	{netip.MustParsePrefix("::/96"), 12},
	{netip.MustParsePrefix("64:ff9b::/96"), 12},
	{netip.MustParsePrefix("64:ff9b:1::/48"), 12},
	{netip.MustParsePrefix("2002::/16"), 2},
}

// Check returns nil when ip may be dialled, else an error wrapping
// ErrAddressRefused and ErrPermanent that names the address and its class
// (retrying cannot help; the admin can allow it).
func (p CallbackPolicy) Check(ip netip.Addr) error {
	ip = ip.WithZone("")
	if !ip.IsValid() {
		return fmt.Errorf("%w: %w: no address", relay.ErrPermanent, ErrAddressRefused)
	}
	if p.allows(ip) {
		return nil
	}
	class, ok := classOf(ip)
	if !ok || (class.private && p.Private) {
		return nil
	}
	return fmt.Errorf("%w: %w: %s is %s; the admin may allow it in RELAY_CALLBACK_ALLOW or the reseller's callback_allow",
		relay.ErrPermanent, ErrAddressRefused, ip, class.name)
}

// allows reports whether an explicit prefix admits ip (in either of its
// IPv4 and IPv4-mapped forms).
func (p CallbackPolicy) allows(ip netip.Addr) bool {
	forms := []netip.Addr{ip, ip.Unmap()}
	for _, pre := range p.Allow {
		for _, a := range forms {
			if pre.Contains(a) && (!isMetadata(a.Unmap()) || pre.IsSingleIP()) {
				return true
			}
		}
	}
	return false
}

// classOf names the refused range ip is in; ok is false for an ordinary
// public address.
func classOf(ip netip.Addr) (addrClass, bool) {
	ip = ip.Unmap()
	if isMetadata(ip) {
		return addrClass{name: "a cloud metadata address"}, true
	}
	for _, c := range addrClasses {
		for _, n := range c.nets {
			if n.Contains(ip) {
				return c, true
			}
		}
	}
	if v4, ok := embedded(ip); ok {
		c, bad := classOf(v4)
		c.name += " (inside an IPv6 address)"
		return c, bad
	}
	return addrClass{}, false
}

func embedded(ip netip.Addr) (netip.Addr, bool) {
	for _, e := range embeddedV4 {
		if e.net.Contains(ip) {
			b := ip.As16()
			return netip.AddrFrom4([4]byte(b[e.offset : e.offset+4])), true
		}
	}
	return netip.Addr{}, false
}

func isMetadata(ip netip.Addr) bool { return slices.Contains(metadataAddrs, ip) }

// String is a stable form of the policy: equal policies share HTTP
// clients (and so connections), different ones never do.
func (p CallbackPolicy) String() string {
	s := make([]string, len(p.Allow))
	for i, pre := range p.Allow {
		s[i] = pre.String()
	}
	slices.Sort(s)
	return fmt.Sprintf("private=%t allow=%s", p.Private, strings.Join(slices.Compact(s), ","))
}

// maxAllow bounds one allowance list: a handful of billing networks, not a
// routing table.
const maxAllow = 64

// ParseAllow reads an allowance: CIDR prefixes or single addresses, as
// canonical masked prefixes. Each bad entry is reported with its index.
func ParseAllow(entries []string) ([]netip.Prefix, error) {
	if len(entries) > maxAllow {
		return nil, fmt.Errorf("at most %d prefixes, got %d", maxAllow, len(entries))
	}
	var out []netip.Prefix
	var errs []error
	for i, e := range entries {
		pre, err := parsePrefix(strings.TrimSpace(e))
		if err != nil {
			errs = append(errs, fmt.Errorf("[%d]: %w", i, err))
			continue
		}
		out = append(out, pre)
	}
	return out, errors.Join(errs...)
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "%") {
		return netip.Prefix{}, fmt.Errorf("%q: a zone is not allowed", s)
	}
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR prefix", s)
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	pre, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR prefix such as 10.20.0.0/16", s)
	}
	return pre.Masked(), nil
}
