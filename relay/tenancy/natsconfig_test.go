package tenancy

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
)

// TestAccountsConfigLoads: what `billrelay nats-config` writes is read
// back by nats-server as the relay's account with its one user, and one
// account per reseller whose user has exactly the embedded server's
// permissions; a reseller without a bcrypt hash gets an account and no
// user.
func TestAccountsConfigLoads(t *testing.T) {
	t.Setenv("BILLRELAY_NATS_PASSWORD", "relay-secret")
	conf := filepath.Join(t.TempDir(), "nats.conf")
	tenants := []Tenant{
		{ID: "res-a", Stream: "DELIVERY", Bcrypt: "$2a$04$2Ydy3Iv0e0mrrZ6N2TkcGOuvvC1lVn1m7dQ3dDgs7pZ7GzU0oS1mO"},
		{ID: "42", Stream: "DELIVERY_2"},
	}
	if err := os.WriteFile(conf, []byte(AccountsConfig("BILLRELAY", "hub", tenants)), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(conf)
	if err != nil {
		t.Fatalf("nats-server does not read the accounts block: %v", err)
	}
	var accounts []string
	for _, a := range opts.Accounts {
		accounts = append(accounts, a.Name)
	}
	slices.Sort(accounts)
	if want := []string{"BILLRELAY", "RESELLER_42", "RESELLER_res-a"}; !slices.Equal(accounts, want) {
		t.Fatalf("accounts %v, want %v", accounts, want)
	}
	users := map[string]*server.User{}
	for _, u := range opts.Users {
		users[u.Username] = u
	}
	if u := users["billrelay"]; u == nil || u.Password != "relay-secret" || u.Account.Name != "BILLRELAY" {
		t.Fatalf("relay user %+v, want billrelay in BILLRELAY with the password from the environment", u)
	}
	if _, ok := users["42"]; ok || len(users) != 2 {
		t.Fatalf("users %v: want billrelay and res-a only", users)
	}
	a := users["res-a"]
	want := ResellerPermissions("res-a", "DELIVERY", "hub", "BILLRELAY")
	if a.Account.Name != "RESELLER_res-a" || a.Password != tenants[0].Bcrypt ||
		!slices.Equal(a.Permissions.Publish.Allow, want.Publish.Allow) ||
		!slices.Equal(a.Permissions.Subscribe.Allow, want.Subscribe.Allow) {
		t.Fatalf("res-a user %+v with %+v, want %+v in RESELLER_res-a", a, a.Permissions, want)
	}
}
