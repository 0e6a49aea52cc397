package relay

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/rs/zerolog"
)

// Tenancy on the embedded NATS server: the relay's streams, buckets and its
// own user live in the global account ($G), which no tenant is in. Each
// reseller that connects over NATS is put in an account of its own, which
// imports from $G exactly what reading its consumer takes: the next and info
// requests of that one consumer, its acks (both subject forms), and a
// receipts intake that the relay checks before it journals anything.
//
// Client permissions inside one shared account are not enough: JetStream
// answers a request on the request's reply subject from the server's own
// client, to which no permission applies, so a tenant could name the
// relay's API or stream subjects as its reply. Across a service import the
// reply is mapped back into the importer's account, so whatever a tenant
// names as its reply, the answer lands among its own subjects.
const (
	// relayAccount is where the relay's JetStream assets live. It is the
	// server's global account, so stores made before tenancy existed are
	// the same stores.
	relayAccount = server.DEFAULT_GLOBAL_ACCOUNT
	// accountPrefix names a reseller's account: RESELLER_<reseller id>.
	accountPrefix = "RESELLER_"
	// receiptIntakePrefix is where a reseller's receipts arrive in the
	// relay's account ($BR.RECEIPTS.<reseller id>): a core subject that no
	// stream captures, so nothing is stored before the relay checked it.
	receiptIntakePrefix = "$BR.RECEIPTS"
)

// AccountName is the NATS account of a reseller on the embedded server.
func AccountName(reseller string) string { return accountPrefix + reseller }

// Import is one subject a reseller's account imports from the relay's
// account: the reseller publishes on Local, the relay's account receives
// on Remote.
type Import struct {
	Local, Remote string
	// Streamed marks an export answered with several messages (a fetch).
	Streamed bool
}

// ResellerImports lists every subject a reseller's account imports: its
// own consumer's next and info requests, its acks in the v1 form
// ($JS.ACK.<stream>.<consumer>.…) and the v2 form with the domain and
// the relay account's hash spelled out ($JS.ACK.<domain>.<hash>.…: a
// wildcard there would also match other consumers' v1 acks), and its
// receipts, which go to the relay's intake for this reseller alone.
func ResellerImports(reseller, stream, domain, relayAcc string) []Import {
	if domain == "" {
		domain = "_"
	}
	consumer := stream + "." + reseller
	v2 := "$JS.ACK." + domain + "." + AccountHash(relayAcc) + "." + consumer + ".>"
	return []Import{
		{Local: "$JS.API.CONSUMER.MSG.NEXT." + consumer, Remote: "$JS.API.CONSUMER.MSG.NEXT." + consumer, Streamed: true},
		{Local: "$JS.API.CONSUMER.INFO." + consumer, Remote: "$JS.API.CONSUMER.INFO." + consumer},
		{Local: "$JS.ACK." + consumer + ".>", Remote: "$JS.ACK." + consumer + ".>"},
		{Local: v2, Remote: v2},
		{Local: receiptsPrefix + ".>", Remote: receiptIntakePrefix + "." + reseller},
		// A dead end for the account's own JetStream API: a server that has
		// JetStream gives every account without it a $JS.API.> import that
		// answers "not enabled", and that answer would race the relay's to
		// the requests above; nats-server leaves it out when the account
		// already imports $JS.API.INFO. Nothing answers $BR.NOJS.
		{Local: "$JS.API.INFO", Remote: noJetStream},
	}
}

// noJetStream is the subject a reseller's $JS.API.INFO leads to: no one
// listens there, so the request has no responders.
const noJetStream = "$BR.NOJS"

// AccountHash is the token JetStream puts in v2 ack subjects for an
// account: eight characters of base 62 from the SHA-256 of its name
// (nats-server events.go getHash). TestAckSubjectsMatchTheServer holds it
// to what the server sends.
func AccountHash(account string) string {
	const digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	sum := sha256.Sum256([]byte(account))
	b := make([]byte, 8)
	for i := range b {
		b[i] = digits[int(sum[i]%62)]
	}
	return string(b)
}

// tenancy keeps the resellers' accounts on the embedded server in step
// with the registry: an account is made, with its imports, when the
// reseller first connects; a reseller deleted or given a new token has its
// connections closed (the authenticator refuses it or its old token from
// then on).
type tenancy struct {
	ns     *server.Server
	domain string
	log    zerolog.Logger

	mu       sync.Mutex
	imported map[string]string // reseller → delivery stream its account imports
}

func newTenancy(ns *server.Server, domain string, log zerolog.Logger) *tenancy {
	return &tenancy{ns: ns, domain: domain, log: log, imported: map[string]string{}}
}

// account returns the reseller's account, with its exports and imports in
// place.
func (t *tenancy) account(rs Reseller) (*server.Account, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	acc, _ := t.ns.LookupOrRegisterAccount(AccountName(rs.ID))
	stream := rs.DeliveryStream()
	if t.imported[rs.ID] == stream {
		return acc, nil
	}
	relay, err := t.ns.LookupAccount(relayAccount)
	if err != nil {
		return nil, fmt.Errorf("relay account: %w", err)
	}
	for _, im := range ResellerImports(rs.ID, stream, t.domain, relayAccount) {
		resp := server.Singleton
		if im.Streamed {
			resp = server.Streamed
		}
		if err := relay.AddServiceExportWithResponse(im.Remote, resp, []*server.Account{acc}); err != nil {
			return nil, fmt.Errorf("export %s to %s: %w", im.Remote, acc.Name, err)
		}
		err := acc.AddServiceImport(relay, im.Local, im.Remote)
		if err != nil && !strings.Contains(err.Error(), "duplicate service import") {
			return nil, fmt.Errorf("import %s into %s: %w", im.Local, acc.Name, err)
		}
	}
	t.imported[rs.ID] = stream
	return acc, nil
}

// changed follows one registry change of a reseller: when the reseller is
// gone or its token changed, every connection made with the old
// registration is closed.
func (t *tenancy) changed(old, cur *Reseller) {
	if old == nil || (cur != nil && cur.TokenSHA256 == old.TokenSHA256) {
		return
	}
	n, err := t.disconnect(AccountName(old.ID))
	if err != nil {
		t.log.Error().Err(err).Str("reseller_id", old.ID).Msg("could not close the nats connections of a changed reseller")
		return
	}
	if n > 0 {
		t.log.Info().Str("reseller_id", old.ID).Int("connections", n).Bool("deleted", cur == nil).
			Msg("nats connections of a deleted or re-tokened reseller closed")
	}
}

func (t *tenancy) disconnect(account string) (int, error) {
	cz, err := t.ns.Connz(&server.ConnzOptions{Account: account, Limit: 1 << 20})
	if err != nil {
		return 0, fmt.Errorf("list connections of %s: %w", account, err)
	}
	var errs []error
	for _, c := range cz.Conns {
		errs = append(errs, t.ns.DisconnectClientByID(c.Cid))
	}
	return len(cz.Conns), errors.Join(errs...)
}
