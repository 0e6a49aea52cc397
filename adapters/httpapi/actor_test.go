package httpapi

import (
	"strings"
	"testing"

	"github.com/billrelay/billrelay/relay"
)

// TestOnlyTheAdminNamesAnActor: X-Actor names the person behind the admin
// token; a seller or reseller is recorded as itself whatever it sends.
func TestOnlyTheAdminNamesAnActor(t *testing.T) {
	admin := &caller{admin: true}
	resA := &caller{Principal: relay.Principal{Role: relay.RoleReseller, ID: "res-a"}}
	sell1 := &caller{Principal: relay.Principal{Role: relay.RoleSeller, ID: "sell-1"}}
	tests := []struct {
		c      *caller
		xActor string
		want   string
	}{
		{admin, "", "admin"},
		{admin, "  alice (INC-4711) ", "alice (INC-4711)"},
		{admin, strings.Repeat("a", 129), "admin"},
		{resA, "", "reseller:res-a"},
		{resA, "admin", "reseller:res-a"},
		{resA, "reseller:res-b", "reseller:res-a"},
		{sell1, "admin", "seller:sell-1"},
		{nil, "admin", "anonymous"},
	}
	for _, tc := range tests {
		if got := actorName(tc.c, tc.xActor); got != tc.want {
			t.Errorf("actorName(%+v, %q) = %q, want %q", tc.c, tc.xActor, got, tc.want)
		}
	}
}
