package registry

import (
	"errors"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
)

// TestCallbackPolicy walks every refused range in its IPv4, IPv6,
// IPv4-mapped and other embedded forms, under the tenant policy (nothing
// extra), the admin policy (private ranges), and explicit allowances.
func TestCallbackPolicy(t *testing.T) {
	tenant := CallbackPolicy{}
	admin := CallbackPolicy{Private: true}
	allow := func(ss ...string) CallbackPolicy { return CallbackPolicy{Allow: prefixes(ss...)} }
	tests := []struct {
		addr   string
		p      CallbackPolicy
		ok     bool
		reason string
	}{
		// Public addresses pass under every policy.
		{"93.184.216.34", tenant, true, ""},
		{"2606:2800:220:1:248:1893:25c8:1946", tenant, true, ""},
		{"::ffff:93.184.216.34", tenant, true, ""},
		{"172.32.0.1", tenant, true, ""},       // just outside 172.16/12
		{"100.128.0.1", tenant, true, ""},      // just outside 100.64/10
		{"64:ff9b::808:808", tenant, true, ""}, // NAT64 of 8.8.8.8
		// Loopback.
		{"127.0.0.1", tenant, false, "loopback"},
		{"127.255.255.254", tenant, false, "loopback"},
		{"::1", tenant, false, "loopback"},
		{"::ffff:127.0.0.1", tenant, false, "loopback"},
		{"::127.0.0.1", tenant, false, "loopback (inside an IPv6 address)"},
		{"64:ff9b::7f00:1", tenant, false, "loopback (inside an IPv6 address)"},
		{"2002:7f00:1::1", tenant, false, "loopback (inside an IPv6 address)"},
		// Unspecified ("this network": 0.0.0.0 connects to the host itself).
		{"0.0.0.0", tenant, false, "unspecified"},
		{"0.1.2.3", tenant, false, "unspecified"},
		{"::", tenant, false, "unspecified"},
		{"::ffff:0.0.0.0", tenant, false, "unspecified"},
		// Link-local and cloud metadata.
		{"169.254.1.1", tenant, false, "link-local"},
		{"fe80::1", tenant, false, "link-local"},
		{"fe80::1%eth0", tenant, false, "link-local"},
		{"::ffff:169.254.1.1", tenant, false, "link-local"},
		{"169.254.169.254", tenant, false, "metadata"},
		{"::ffff:169.254.169.254", tenant, false, "metadata"},
		{"fd00:ec2::254", tenant, false, "metadata"},
		{"100.100.100.200", tenant, false, "metadata"},
		{"192.0.0.192", tenant, false, "metadata"},
		// Private (RFC 1918), unique-local, site-local, CGNAT.
		{"10.0.0.1", tenant, false, "private"},
		{"172.16.0.1", tenant, false, "private"},
		{"172.31.255.255", tenant, false, "private"},
		{"192.168.1.1", tenant, false, "private"},
		{"::ffff:10.1.2.3", tenant, false, "private"},
		{"::ffff:192.168.1.1", tenant, false, "private"},
		{"2002:c0a8:101::1", tenant, false, "private (inside an IPv6 address)"},
		{"fc00::1", tenant, false, "unique-local"},
		{"fd12:3456::1", tenant, false, "unique-local"},
		{"fec0::1", tenant, false, "unique-local"},
		{"100.64.0.1", tenant, false, "CGNAT"},
		{"100.127.255.255", tenant, false, "CGNAT"},
		{"::ffff:100.64.0.1", tenant, false, "CGNAT"},
		// Multicast, broadcast, reserved, Teredo.
		{"224.0.0.1", tenant, false, "multicast"},
		{"239.255.255.250", tenant, false, "multicast"},
		{"ff02::1", tenant, false, "multicast"},
		{"::ffff:224.0.0.1", tenant, false, "multicast"},
		{"255.255.255.255", tenant, false, "reserved"},
		{"240.0.0.1", tenant, false, "reserved"},
		{"2001::1", tenant, false, "reserved"},
		// An admin's webhook may reach private ranges, never metadata,
		// link-local, unspecified or multicast.
		{"127.0.0.1", admin, true, ""},
		{"::1", admin, true, ""},
		{"10.0.0.1", admin, true, ""},
		{"fd12::1", admin, true, ""},
		{"100.64.0.1", admin, true, ""},
		{"::ffff:192.168.1.1", admin, true, ""},
		{"169.254.169.254", admin, false, "metadata"},
		{"fd00:ec2::254", admin, false, "metadata"},
		{"100.100.100.200", admin, false, "metadata"},
		{"169.254.1.1", admin, false, "link-local"},
		{"0.0.0.0", admin, false, "unspecified"},
		{"ff02::1", admin, false, "multicast"},
		// Allowances admit what they cover, in either form, and nothing else.
		{"127.0.0.1", allow("127.0.0.1/32"), true, ""},
		{"::ffff:127.0.0.1", allow("127.0.0.1/32"), true, ""},
		{"127.0.0.2", allow("127.0.0.1/32"), false, "loopback"},
		{"::1", allow("127.0.0.1/32"), false, "loopback"},
		{"10.20.3.4", allow("10.20.0.0/16"), true, ""},
		{"10.21.0.1", allow("10.20.0.0/16"), false, "private"},
		{"fd12:3456::9", allow("fd12:3456::/32"), true, ""},
		// A metadata address is admitted only on its own, never through a
		// range that happens to cover it.
		{"169.254.169.254", allow("169.254.0.0/16"), false, "metadata"},
		{"100.100.100.200", allow("100.64.0.0/10"), false, "metadata"},
		{"fd00:ec2::254", allow("fd00::/8"), false, "metadata"},
		{"169.254.169.254", allow("169.254.169.254/32"), true, ""},
		{"169.254.1.1", allow("169.254.0.0/16"), true, ""},
		{"0.0.0.0", allow("0.0.0.0/0"), true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.addr+" "+tc.p.String(), func(t *testing.T) {
			err := tc.p.Check(netip.MustParseAddr(tc.addr))
			if tc.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrAddressRefused) || !errors.Is(err, relay.ErrPermanent) {
				t.Fatalf("err = %v, want ErrAddressRefused and ErrPermanent", err)
			}
			if !strings.Contains(err.Error(), tc.reason) || !strings.Contains(err.Error(), "RELAY_CALLBACK_ALLOW") {
				t.Fatalf("err = %q, want it to name %q and the setting", err, tc.reason)
			}
		})
	}
}

func TestCallbackURLProblem(t *testing.T) {
	tests := []struct {
		url    string
		tenant bool
		want   string // "" for accepted, else a part of the reason
	}{
		{"https://billing.example/tmf", true, ""},
		{"http://billing.example:8080/hub?x=1", true, ""},
		{"https://[2001:db8::1]/hook", true, ""},
		{"https://user:pass@billing.example/hook", false, ""},
		{"https://user:pass@billing.example/hook", true, "user:password@"},
		{"https://user@billing.example/hook", true, "user:password@"},
		{"https://:pass@billing.example/hook", true, "user:password@"},
		{"", true, "required"},
		{"ftp://billing.example/", true, "http or https"},
		{"file:///etc/passwd", true, "http or https"},
		{"gopher://127.0.0.1:6379/_", true, "http or https"},
		{"https:billing.example", true, "with a host"},
		{"https:///path", true, "with a host"},
		{"https://:443/path", true, "with a host"},
		{"//billing.example/x", true, "http or https"},
		{"https://billing.example:0/", true, "port"},
		{"https://billing.example:70000/", true, "port"},
		{"https://bill ing.example/", true, "not a URL"},
		{"https://billing.example/" + strings.Repeat("a", maxCallbackURL), true, "longer than"},
	}
	for _, tc := range tests {
		got := callbackURLProblem(tc.url, tc.tenant)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("callbackURLProblem(%q, tenant=%t) = %q, want %q", tc.url, tc.tenant, got, tc.want)
		}
	}
}

// TestCheckCallbackRefusesWrittenOutAddresses: an address the policy would
// refuse is answered at registration already, naming the field; a name is
// left to the dial.
func TestCheckCallbackRefusesWrittenOutAddresses(t *testing.T) {
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"http://127.0.0.1:8080/tmf", false},
		{"http://[::1]/tmf", false},
		{"http://[::ffff:169.254.169.254]/latest", false},
		{"http://10.1.2.3/tmf", false},
		{"http://localhost:8080/tmf", true},
		{"https://93.184.216.34/tmf", true},
	} {
		ve := &events.ValidationError{}
		CheckCallback(ve, "callback", tc.url, true, CallbackPolicy{})
		err := ve.Err()
		if tc.ok != (err == nil) {
			t.Errorf("%s: err = %v", tc.url, err)
		}
		if err != nil && (ve.Fields[0].Field != "callback" || !strings.Contains(ve.Fields[0].Reason, "RELAY_CALLBACK_ALLOW")) {
			t.Errorf("%s: fields %+v", tc.url, ve.Fields)
		}
	}
}

// FuzzCallbackURL: whatever the input, an accepted tenant URL is http(s)
// with a host and no userinfo, and a reason never repeats the input (it
// may hold a secret).
func FuzzCallbackURL(f *testing.F) {
	for _, s := range []string{"https://billing.example/tmf?token=s3cret", "http://u:p@127.0.0.1/", "https://[fe80::1%25eth0]/",
		"http://0x7f.1/", "http://2130706433/", "HTTPS://EXAMPLE.COM", "http://a.example:99999", "\x00http://x", "https://example.com#frag"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		problem := callbackURLProblem(raw, true)
		if len(raw) >= 12 && strings.Contains(problem, raw) {
			t.Fatalf("reason %q repeats the URL", problem)
		}
		if problem != "" {
			return
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.User != nil {
			t.Fatalf("accepted %q", raw)
		}
		ve := &events.ValidationError{}
		CheckCallback(ve, "callback", raw, true, CallbackPolicy{})
		if ip, err := netip.ParseAddr(u.Hostname()); err == nil && (CallbackPolicy{}).Check(ip) != nil && ve.Err() == nil {
			t.Fatalf("accepted the refused address of %q", raw)
		}
	})
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://billing.example/hook":                            "https://billing.example/hook",
		"https://user:pass@billing.example/hook?token=s3cret&x=1": "https://***@billing.example/hook?token=***&x=***",
		"https://tok3n@billing.example/hook":                      "https://***@billing.example/hook",
		"http://127.0.0.1:9/h?s3cretbare":                         "http://127.0.0.1:9/h?***",
		"http://h.example/h?" + strings.Repeat("k", 40) + "=v":    "http://h.example/h?***",
		"http://h.example/h?a=1#frag-s3cret":                      "http://h.example/h?a=***",
		"http://h.example/h?":                                     "http://h.example/h",
		"%%%":                                                     "(unparseable URL)",
		"":                                                        "",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzRedactURL: no password, username, query value or fragment of the
// input survives redaction.
func FuzzRedactURL(f *testing.F) {
	f.Add("https://user:pass@billing.example/hook?token=s3cret#f")
	f.Add("http://h.example/?a=b&c&=d&e=")
	f.Add("http://[::1]:80/x?%zz=1")
	f.Fuzz(func(t *testing.T, raw string) {
		out := RedactURL(raw)
		u, err := url.Parse(raw)
		if err != nil || out == "" || out == "(unparseable URL)" {
			return
		}
		r, err := url.Parse(out)
		if err != nil {
			t.Fatalf("RedactURL(%q) = %q, which does not parse: %v", raw, out, err)
		}
		if _, pw := r.User.Password(); u.User != nil && (r.User.Username() != "***" || pw) {
			t.Fatalf("RedactURL(%q) = %q keeps the userinfo", raw, out)
		}
		for _, part := range strings.Split(r.RawQuery, "&") {
			if _, v, ok := strings.Cut(part, "="); (ok && v != "***") || (!ok && part != "***" && part != "") {
				t.Fatalf("RedactURL(%q) = %q keeps a query value", raw, out)
			}
		}
		if r.Fragment != "" {
			t.Fatalf("RedactURL(%q) = %q keeps the fragment", raw, out)
		}
	})
}

// FuzzParseAllow: an accepted allowance entry is a canonical prefix that
// reads back as itself; anything else is refused with its index.
func FuzzParseAllow(f *testing.F) {
	for _, s := range []string{"10.20.0.0/16", "127.0.0.1", "fd12::/48", "10.0.0.1/8", "::ffff:10.0.0.0/104", "fe80::1%eth0", "10.0.0.0/33", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseAllow([]string{s})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "[0]: ") {
				t.Fatalf("error %q does not name the entry", err)
			}
			return
		}
		if len(got) != 1 || got[0] != got[0].Masked() {
			t.Fatalf("ParseAllow(%q) = %v", s, got)
		}
		again, err := ParseAllow([]string{got[0].String()})
		if err != nil || again[0] != got[0] {
			t.Fatalf("%q read back as %v, %v", got[0], again, err)
		}
	})
}
