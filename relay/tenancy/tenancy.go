package tenancy

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/billrelay/billrelay/relay"
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
	// ReceiptIntakePrefix is where a reseller's receipts arrive in the
	// relay's account ($BR.RECEIPTS.<reseller id>): a core subject that no
	// stream captures, so nothing is stored before the relay checked it.
	ReceiptIntakePrefix = "$BR.RECEIPTS"
	// InfoIntakePrefix is where a reseller's consumer info requests arrive
	// ($BR.INFO.<reseller id>): the relay answers them from a cache, so a
	// flood never reaches JetStream's API queue, which every account
	// shares.
	InfoIntakePrefix = "$BR.INFO"
)

// AccountName is the NATS account of a reseller on the embedded server.
func AccountName(reseller string) string { return accountPrefix + reseller }

// Import is one subject a reseller's account shares with the relay's
// account: the reseller publishes on Local, the relay's account receives
// on Remote.
type Import struct {
	Local, Remote string
	// Streamed marks a service answered with several messages (a fetch).
	Streamed bool
	// Stream marks what the reseller exports as a stream and the relay's
	// account imports under the prefix Remote: nothing is answered, so the
	// server keeps no response mapping for it (receipts).
	Stream bool
}

// ResellerImports lists every subject a reseller's account shares with the
// relay's: its own consumer's next requests, its acks in the v1 form
// ($JS.ACK.<stream>.<consumer>.…) and the v2 form with the domain and the
// relay account's hash spelled out ($JS.ACK.<domain>.<hash>.…: a wildcard
// there would also match other consumers' v1 acks), its consumer's info,
// answered by the relay from a cache ($BR.INFO.<id>), and its receipts
// ($BR.RECEIPTS.<id>.receipts.…), both checked and rate-limited per
// reseller before anything reaches JetStream.
func ResellerImports(reseller, stream, domain, relayAcc string) []Import {
	if domain == "" {
		domain = "_"
	}
	consumer := stream + "." + reseller
	v2 := "$JS.ACK." + domain + "." + AccountHash(relayAcc) + "." + consumer + ".>"
	return []Import{
		{Local: "$JS.API.CONSUMER.MSG.NEXT." + consumer, Remote: "$JS.API.CONSUMER.MSG.NEXT." + consumer, Streamed: true},
		{Local: "$JS.API.CONSUMER.INFO." + consumer, Remote: InfoIntakePrefix + "." + reseller},
		{Local: "$JS.ACK." + consumer + ".>", Remote: "$JS.ACK." + consumer + ".>"},
		{Local: v2, Remote: v2},
		{Local: relay.ReceiptsPrefix + ".>", Remote: ReceiptIntakePrefix + "." + reseller, Stream: true},
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

// responseThreshold is how long the server keeps the way back for an
// answer to a reseller's request: a fetch may wait up to relay.MaxPullWait, the
// rest are answered at once. An unanswered request costs the relay's
// account memory until then (bounded further by the guard).
func responseThreshold(im Import) time.Duration {
	if im.Streamed {
		return relay.MaxPullWait + 10*time.Second
	}
	return 5 * time.Second
}

// AccountHash is the token JetStream puts in v2 ack subjects for an
// account: eight characters of base 62 from the SHA-256 of its name
// (nats-server events.go getHash). TestResellerNATSPermissions holds it
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

// Accounts keeps the resellers' accounts on the embedded server in step
// with the registry and bounds what one tenant can cost the server. An
// account is made, with its imports, when the reseller first connects; a
// reseller deleted or given a new token has its connections closed. One
// lock covers admitting a connection and closing a reseller's
// connections, so that a login racing a new token is either refused or
// closed with the others.
type Accounts struct {
	ns     *server.Server
	reg    Registry
	domain string
	log    zerolog.Logger
	now    func() time.Time

	// shared hears of a reseller whose account was just set up: a
	// subscription the relay made before the reseller's stream export
	// existed does not receive it (the server adds an import's routes for
	// the subscriptions made after it).
	shared func(reseller string)

	mu       sync.Mutex
	imported map[string]string // reseller → delivery stream its account imports
	banned   map[string]ban    // reseller → refused until
}

// ban keeps a reseller out for a while after the guard closed it: a
// client that reconnects at once would otherwise repeat what it was
// closed for. Each ban doubles the last, up to banMax.
type ban struct {
	until time.Time
	last  time.Duration
}

// Per-tenant bounds on the embedded server. A reseller's agent needs one
// connection, a handful of subscriptions and a few requests in flight.
const (
	maxTenantConns = 16
	maxTenantSubs  = 1000
	// maxTenantPayload bounds one message a reseller publishes on a
	// cluster configured by nats-config (a receipt is at most 4 KiB).
	maxTenantPayload = 64 << 10
	maxTenantPending = 2000                   // requests waiting for an answer (response mappings)
	guardEvery       = 250 * time.Millisecond // how long a flood runs before the guard sees it
	banFirst         = 30 * time.Second
	banMax           = 10 * time.Minute
)

// Registry is the registry view a reseller's login is checked against, at
// every login: a new reseller connects at once, a deleted one cannot.
type Registry interface {
	// Reseller returns a registered reseller, with the SHA-256 of its
	// current token.
	Reseller(id string) (relay.Reseller, bool)
}

func newAccounts(ns *server.Server, reg Registry, domain string, log zerolog.Logger) *Accounts {
	return &Accounts{ns: ns, reg: reg, domain: domain, log: log, now: time.Now,
		imported: map[string]string{}, banned: map[string]ban{}}
}

// SetShared sets who hears of a reseller whose account was just set up
// (the receipt intake, which subscribes again).
func (t *Accounts) SetShared(f func(reseller string)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.shared = f
}

// admit decides one reseller login: the token must be the current one,
// the reseller not banned, its account below its connection bound. It
// registers the client in the reseller's account.
func (t *Accounts) admit(c server.ClientAuthentication, user, password string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	rs, ok := t.reg.Reseller(user)
	if !ok || subtle.ConstantTimeCompare([]byte(tokenSHA256(password)), []byte(rs.TokenSHA256)) != 1 {
		return false
	}
	if b, ok := t.banned[rs.ID]; ok && t.now().Before(b.until) {
		return false
	}
	acc, err := t.account(rs)
	if err != nil {
		t.log.Error().Err(err).Str("reseller_id", rs.ID).Msg("reseller account not set up; connection refused")
		return false
	}
	if n := acc.NumLocalConnections(); n >= maxTenantConns {
		t.log.Warn().Str("reseller_id", rs.ID).Int("connections", n).Msg("nats connection refused: the reseller's connection bound is reached")
		return false
	}
	c.RegisterUser(&server.User{Username: rs.ID, Account: acc,
		Permissions: ResellerPermissions(rs.ID, rs.DeliveryStream(), t.domain, relayAccount)})
	return true
}

// account returns the reseller's account, with its exports and imports in
// place. The caller holds t.mu.
func (t *Accounts) account(rs relay.Reseller) (*server.Account, error) {
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
		if err := share(relay, acc, im); err != nil {
			return nil, err
		}
	}
	t.imported[rs.ID] = stream
	if t.shared != nil {
		t.shared(rs.ID)
	}
	return acc, nil
}

// share sets up one import between the relay's account and a reseller's.
func share(relay, acc *server.Account, im Import) error {
	if im.Stream {
		if err := acc.AddStreamExport(im.Local, []*server.Account{relay}); err != nil {
			return fmt.Errorf("export %s from %s: %w", im.Local, acc.Name, err)
		}
		err := relay.AddStreamImport(acc, im.Local, im.Remote)
		if err != nil && !strings.Contains(err.Error(), "duplicate") {
			return fmt.Errorf("import %s from %s: %w", im.Local, acc.Name, err)
		}
		return nil
	}
	resp := server.Singleton
	if im.Streamed {
		resp = server.Streamed
	}
	if err := relay.AddServiceExportWithResponse(im.Remote, resp, []*server.Account{acc}); err != nil {
		return fmt.Errorf("export %s to %s: %w", im.Remote, acc.Name, err)
	}
	if err := relay.SetServiceExportResponseThreshold(im.Remote, responseThreshold(im)); err != nil {
		return fmt.Errorf("response threshold of %s: %w", im.Remote, err)
	}
	err := acc.AddServiceImport(relay, im.Local, im.Remote)
	if err != nil && !strings.Contains(err.Error(), "duplicate service import") {
		return fmt.Errorf("import %s into %s: %w", im.Local, acc.Name, err)
	}
	return nil
}

// Changed follows one registry change of a reseller: when the reseller is
// gone or its token changed, every connection made with the old
// registration is closed.
func (t *Accounts) Changed(old, cur *relay.Reseller) {
	if old == nil || (cur != nil && cur.TokenSHA256 == old.TokenSHA256) {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
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

func (t *Accounts) disconnect(account string) (int, error) {
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

// Open has nothing to load: an account is set up at its reseller's first
// login.
func (t *Accounts) Open(context.Context) error { return nil }

// Run is the guard: it closes, and keeps out for a while, a reseller whose
// account holds more subscriptions or unanswered requests than an agent
// ever needs: each costs the server memory that the tenant could
// otherwise grow without bound. On an external NATS the accounts'
// configured limits bound the tenants instead.
func (t *Accounts) Run(ctx context.Context) error {
	tick := time.NewTicker(guardEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			t.check()
		}
	}
}

func (t *Accounts) check() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id := range t.imported {
		acc, err := t.ns.LookupAccount(AccountName(id))
		if err != nil {
			continue
		}
		subs, pending := acc.TotalSubs(), acc.NumPendingReverseResponses()
		if subs <= maxTenantSubs && pending <= maxTenantPending {
			continue
		}
		b := t.banned[id]
		b.last = min(max(2*b.last, banFirst), banMax)
		b.until = t.now().Add(b.last)
		t.banned[id] = b
		n, err := t.disconnect(AccountName(id))
		t.log.Warn().Err(err).Str("reseller_id", id).Int("subscriptions", subs).Int("pending_requests", pending).
			Int("connections", n).Dur("banned_for", b.last).Msg("reseller over its nats bounds: connections closed")
	}
}

// tokenSHA256 is the hash the registry keeps of a token (hex SHA-256, the
// token_sha256 of a reseller's record).
func tokenSHA256(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
