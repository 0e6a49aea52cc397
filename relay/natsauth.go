package relay

import (
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net"
	"strconv"

	"github.com/nats-io/nats-server/v2/server"
)

// internalUser is the relay's own connection to its embedded server.
const internalUser = "billrelay-internal"

// natsAuth admits the relay itself with full rights, and each reseller
// (user = reseller id, password = its API token) with the rights to read
// and settle its own consumer and nothing else. It looks resellers up in
// the registry view at each connection, so a new reseller can connect at
// once and a deleted one cannot.
type natsAuth struct {
	reg      *registry
	password string
}

var _ server.Authentication = (*natsAuth)(nil)

func (a *natsAuth) Check(c server.ClientAuthentication) bool {
	o := c.GetOpts()
	if o.Username == internalUser {
		if subtle.ConstantTimeCompare([]byte(o.Password), []byte(a.password)) != 1 {
			return false
		}
		c.RegisterUser(&server.User{Username: internalUser})
		return true
	}
	rs, ok := a.reg.reseller(o.Username)
	if !ok || subtle.ConstantTimeCompare([]byte(hashToken(o.Password)), []byte(rs.TokenSHA256)) != 1 {
		return false
	}
	c.RegisterUser(&server.User{Username: rs.ID, Permissions: ResellerPermissions(rs.ID, rs.DeliveryStream())})
	return true
}

// InboxPrefix is the inbox prefix a reseller's NATS client must use
// (nats.CustomInboxPrefix): replies to its requests arrive there, and no
// other reseller may listen there.
func InboxPrefix(reseller string) string { return "_INBOX_" + reseller }

// ResellerPermissions lets a reseller fetch from, read the info of, and
// ack its own consumer on its delivery stream, in both the v1 and the v2 form of the
// JetStream ack subject ($JS.ACK.<stream>… and $JS.ACK.<domain>.<account
// hash>.<stream>…), record its own receipts, and receive on its own inbox. Everything else is
// denied: another reseller's consumer, the delivery subjects themselves,
// publishing events.
func ResellerPermissions(reseller, stream string) *server.Permissions {
	return &server.Permissions{
		Publish: &server.SubjectPermission{Allow: []string{
			"$JS.API.CONSUMER.MSG.NEXT." + stream + "." + reseller,
			"$JS.API.CONSUMER.INFO." + stream + "." + reseller,
			"$JS.ACK." + stream + "." + reseller + ".>",
			"$JS.ACK.*.*." + stream + "." + reseller + ".>",
			receiptsPrefix + "." + stream + "." + reseller + ".>",
		}},
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

func newInternalPassword() string { return base64.RawURLEncoding.EncodeToString(randomBytes(24)) }
