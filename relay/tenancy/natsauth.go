package tenancy

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net"
	"strconv"

	"github.com/nats-io/nats-server/v2/server"
)

// internalUser is the relay's own connection to its embedded server.
const internalUser = "billrelay-internal"

// natsAuth admits the relay itself into its own account with full rights,
// and each reseller (user = reseller id, password = its API token) into an
// account of its own that reaches nothing but its consumer (see
// tenancy.go). It looks resellers up in the registry view at each
// connection, so a new reseller can connect at once and a deleted one
// cannot.
type natsAuth struct {
	password string
	tenants  *Accounts // set once the server exists, before it listens
}

var _ server.Authentication = (*natsAuth)(nil)

// Check admits one client connection.
func (a *natsAuth) Check(c server.ClientAuthentication) bool {
	o := c.GetOpts()
	if o.Username == internalUser {
		if subtle.ConstantTimeCompare([]byte(o.Password), []byte(a.password)) != 1 {
			return false
		}
		c.RegisterUser(&server.User{Username: internalUser})
		return true
	}
	return a.tenants.admit(c, o.Username, o.Password)
}

// InboxPrefix is the inbox prefix a reseller's NATS client must use
// (nats.CustomInboxPrefix): replies to its requests arrive there.
func InboxPrefix(reseller string) string { return "_INBOX_" + reseller }

// ResellerPermissions narrow a reseller further inside its own account, as
// a second wall behind the account's imports: it may publish only on the
// subjects it imports (its consumer's next and info requests, its acks in
// both forms, its receipts) and subscribe only on its inbox.
func ResellerPermissions(reseller, stream, domain, relayAcc string) *server.Permissions {
	var pub []string
	for _, im := range ResellerImports(reseller, stream, domain, relayAcc) {
		pub = append(pub, im.Local)
	}
	return &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: pub},
		Subscribe: &server.SubjectPermission{Allow: []string{InboxPrefix(reseller) + ".>"}},
	}
}

// listenOptions turns RELAY_NATS_LISTEN into server options.
func listenOptions(addr string) (host string, port int, err error) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("nats listen address %q: %w", addr, err)
	}
	port, err = strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("nats listen address %q: bad port", addr)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	return h, port, nil
}

// newInternalPassword is the relay's own password, new at every start: its
// client is the only one that ever uses it.
func newInternalPassword() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // never fails: crypto/rand crashes the program instead
	return base64.RawURLEncoding.EncodeToString(b)
}
