package registry

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
)

// maxCallbackURL bounds a stored webhook or hub URL.
const maxCallbackURL = 2048

// callbackURLProblem says what is wrong with a webhook or hub URL, or "".
// A tenant's URL (a TMF hub) may not carry userinfo; an admin's webhook
// may (Basic auth of the receiver). The reason never repeats the URL: it
// may carry a secret.
func callbackURLProblem(raw string, tenant bool) string {
	if raw == "" {
		return "required; an absolute http or https URL"
	}
	if len(raw) > maxCallbackURL {
		return fmt.Sprintf("longer than %d characters", maxCallbackURL)
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "not a URL (expected an absolute http or https URL)"
	case u.Scheme != "http" && u.Scheme != "https":
		return "expected an http or https URL"
	case u.Opaque != "" || u.Hostname() == "":
		return "expected an absolute URL with a host"
	case tenant && u.User != nil:
		return "must not carry user:password@ (credentials in a URL end up in logs and proxies)"
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "port must be 1 to 65535"
		}
	}
	return ""
}

// CheckCallback validates a callback URL into ve under field, and refuses
// at once an address written out that the policy would refuse when
// dialled (a name is judged only when dialled: what it resolves to then
// is what counts).
func CheckCallback(ve *events.ValidationError, field, raw string, tenant bool, p CallbackPolicy) {
	if problem := callbackURLProblem(raw, tenant); problem != "" {
		ve.Add(field, "%s", problem)
		return
	}
	u, _ := url.Parse(raw)
	if ip, err := netip.ParseAddr(u.Hostname()); err == nil {
		if err := p.Check(ip); err != nil {
			ve.Add(field, "%s", strings.TrimPrefix(err.Error(), relay.ErrPermanent.Error()+": "))
		}
	}
}

// queryKey is a query parameter name RedactURL keeps (its value never).
var queryKey = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,32}$`)

// RedactURL is a webhook or hub URL fit for logs, errors, ops events and
// status answers: userinfo becomes ***, each query value *** (the name
// stays when it looks like one), the fragment is dropped.
func RedactURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.Host == "" {
		return "(unparseable URL)"
	}
	user := u.User != nil
	u.User = nil
	if u.RawQuery != "" {
		parts := strings.Split(u.RawQuery, "&")
		for i, part := range parts {
			if k, _, ok := strings.Cut(part, "="); ok && queryKey.MatchString(k) {
				parts[i] = k + "=***"
			} else {
				parts[i] = "***"
			}
		}
		u.RawQuery = strings.Join(parts, "&")
	}
	u.ForceQuery, u.Fragment, u.RawFragment = false, "", ""
	s := u.String()
	if user {
		s = strings.Replace(s, "//", "//***@", 1)
	}
	return s
}

// CallbackPolicy is what ep's sink may dial: a tenant's own targets (TMF
// hubs) public addresses and the admin's allowances only, an admin's
// webhook also private ones.
func (r *Registry) CallbackPolicy(ep relay.Destination, tenant bool) CallbackPolicy {
	return CallbackPolicy{Private: !tenant, Allow: slices.Concat(r.cfg.CallbackAllow, ep.Allow)}
}

// AdminCallbackPolicy is the policy of targets an admin sets outside any
// reseller (a seller's notification webhook).
func (r *Registry) AdminCallbackPolicy() CallbackPolicy {
	return CallbackPolicy{Private: true, Allow: r.cfg.CallbackAllow}
}

// SetCallbackAllow sets the prefixes a reseller's own callbacks (TMF hubs)
// may reach besides public addresses, e.g. its on-premises billing node;
// an empty list removes the allowance. It returns the canonical prefixes.
// Running deliveries switch to the new policy at once.
func (r *Registry) SetCallbackAllow(ctx context.Context, reseller string, cidrs []string) ([]string, error) {
	ve := &events.ValidationError{}
	if len(cidrs) > maxAllow {
		ve.Add("cidrs", "at most %d prefixes, got %d", maxAllow, len(cidrs))
	}
	canon := make([]string, 0, len(cidrs))
	for i, c := range cidrs {
		p, err := parsePrefix(strings.TrimSpace(c))
		if err != nil {
			ve.Add(fmt.Sprintf("cidrs[%d]", i), "%v", err)
			continue
		}
		canon = append(canon, p.String())
	}
	if err := ve.Err(); err != nil {
		return nil, err
	}
	slices.Sort(canon)
	canon = slices.Compact(canon)
	if _, err := r.UpdateReseller(ctx, reseller, func(rs *relay.Reseller) error { rs.CallbackAllow = canon; return nil }); err != nil {
		return nil, err
	}
	r.audit(ctx, relay.AuditEntry{Action: "callback_allow.set", Target: reseller, Detail: map[string]any{"cidrs": canon}})
	return canon, nil
}
