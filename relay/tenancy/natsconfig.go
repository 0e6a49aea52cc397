package tenancy

import (
	"fmt"
	"strconv"
	"strings"
)

// Tenant is what the accounts configuration needs of one reseller.
type Tenant struct {
	ID     string
	Stream string
	// Bcrypt is the reseller's token hashed with bcrypt; a reseller
	// registered before the relay kept one has none and gets no user.
	Bcrypt string
}

// AccountsConfig writes the accounts block of a nats-server configuration
// that isolates resellers on an external cluster the way the embedded
// server does (see tenancy.go): the relay's streams and its user in
// relayAcc, and each reseller in an account of its own that imports
// exactly [ResellerImports]. The relay's user takes its password from the
// server's environment (BILLRELAY_NATS_PASSWORD); resellers log in with
// their API token, checked as bcrypt. Servers must be restarted to take a
// new file: after a reload, nats-server 2.15.2 left the new accounts'
// requests without responders.
func AccountsConfig(relayAcc, domain string, tenants []Tenant) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# billrelay tenancy: written by `billrelay nats-config`; write it again after a reseller is\n")
	fmt.Fprintf(&b, "# registered, deleted or given a new token, then restart the servers one at a time.\n")
	fmt.Fprintf(&b, "accounts {\n  %s: {\n    jetstream: enabled\n", relayAcc)
	fmt.Fprintf(&b, "    users: [ {user: billrelay, password: $BILLRELAY_NATS_PASSWORD} ]\n    exports: [\n")
	// One export per subject, listing every account that may import it
	// (the dead end $BR.NOJS is shared by all).
	var order []string
	exports := map[string]*export{}
	for _, t := range tenants {
		for _, im := range ResellerImports(t.ID, t.Stream, domain, relayAcc) {
			if im.Stream {
				continue
			}
			e := exports[im.Remote]
			if e == nil {
				e = &export{im: im}
				exports[im.Remote] = e
				order = append(order, im.Remote)
			}
			e.accounts = append(e.accounts, quote(AccountName(t.ID)))
		}
	}
	for _, subj := range order {
		e := exports[subj]
		resp := "singleton"
		if e.im.Streamed {
			resp = "stream"
		}
		fmt.Fprintf(&b, "      {service: %s, response_type: %s, response_threshold: %q, accounts: [%s]}\n",
			quote(subj), resp, responseThreshold(e.im).String(), strings.Join(e.accounts, ", "))
	}
	fmt.Fprintf(&b, "    ]\n    imports: [\n")
	for _, t := range tenants {
		for _, im := range ResellerImports(t.ID, t.Stream, domain, relayAcc) {
			if im.Stream {
				fmt.Fprintf(&b, "      {stream: {account: %s, subject: %s}, prefix: %s}\n", quote(AccountName(t.ID)), quote(im.Local), quote(im.Remote))
			}
		}
	}
	fmt.Fprintf(&b, "    ]\n  }\n")
	for _, t := range tenants {
		fmt.Fprintf(&b, "  %s: {\n", quote(AccountName(t.ID)))
		fmt.Fprintf(&b, "    limits: {max_connections: %d, max_subscriptions: %d, max_payload: %d}\n",
			maxTenantConns, maxTenantSubs, maxTenantPayload)
		if t.Bcrypt == "" {
			fmt.Fprintf(&b, "    # no user: registered before the relay kept a bcrypt hash; give it a new token\n")
		} else {
			writeTenantUser(&b, t, domain, relayAcc)
		}
		var exports, imports []string
		for _, im := range ResellerImports(t.ID, t.Stream, domain, relayAcc) {
			if im.Stream {
				exports = append(exports, fmt.Sprintf("{stream: %s, accounts: [%s]}", quote(im.Local), quote(relayAcc)))
			} else {
				imports = append(imports, fmt.Sprintf("{service: {account: %s, subject: %s}, to: %s}", quote(relayAcc), quote(im.Remote), quote(im.Local)))
			}
		}
		fmt.Fprintf(&b, "    exports: [\n      %s\n    ]\n", strings.Join(exports, "\n      "))
		fmt.Fprintf(&b, "    imports: [\n      %s\n    ]\n  }\n", strings.Join(imports, "\n      "))
	}
	fmt.Fprintf(&b, "}\n")
	return b.String()
}

type export struct {
	im       Import
	accounts []string
}

func writeTenantUser(b *strings.Builder, t Tenant, domain, relayAcc string) {
	perms := ResellerPermissions(t.ID, t.Stream, domain, relayAcc)
	fmt.Fprintf(b, "    users: [ {user: %s, password: %s, permissions: {\n", quote(t.ID), quote(t.Bcrypt))
	fmt.Fprintf(b, "      publish: {allow: [%s]}\n", quoteAll(perms.Publish.Allow))
	fmt.Fprintf(b, "      subscribe: {allow: [%s]}\n    }} ]\n", quoteAll(perms.Subscribe.Allow))
}

// quote writes a string the configuration parser reads back as it is: a
// quoted string is never taken for a variable ($JS…) or a number.
func quote(s string) string { return strconv.Quote(s) }

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = quote(s)
	}
	return strings.Join(q, ", ")
}
