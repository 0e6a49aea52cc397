package node

import (
	"context"

	"github.com/billrelay/billrelay/relay/tenancy"
)

// What the rest of core still calls of the embedded server's tenancy,
// which now lives in relay/tenancy.

// The receipt intake (intake.go) subscribes where the resellers' accounts
// deliver receipts and consumer info requests.

// tenantAccounts keeps intake.go's r.tenants.setShared working.
type tenantAccounts struct{ *tenancy.Accounts }

func (t tenantAccounts) setShared(f func(reseller string)) { t.SetShared(f) }

// startTenantGuard runs the guard of the embedded server's tenant
// accounts; on an external NATS its accounts bound the tenants.
func (r *Relay) startTenantGuard(ctx, bg context.Context) error {
	if r.tenants == nil {
		return nil
	}
	return r.sup.open(ctx, bg, part{name: "tenant guard", open: r.tenants.Open, run: r.tenants.Run})
}
