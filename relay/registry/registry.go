package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/store"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Registry key prefixes in BucketRegistry.
const (
	keySeller   = "seller."
	keyReseller = "reseller."
	KeyAckKey   = "secret.ackkey"
)

type accountKey struct{ seller, account string }

// View is the in-memory view of BucketRegistry, kept current by a KV
// watch so that several relays on one cluster see the same registrations.
// Reads (every request's authentication, every routed event) never touch
// the network.
type View struct {
	mu        sync.RWMutex
	rev       uint64
	changed   chan struct{}
	sellers   map[string]relay.Seller
	resellers map[string]relay.Reseller
	tokens    map[string]relay.Principal
	routes    map[accountKey][]string
	// OnReseller, when set, hears of every change of a reseller (old or
	// cur nil when it was added or deleted), after the view is updated.
	OnReseller func(old, cur *relay.Reseller)
}

func NewView() *View {
	return &View{
		changed:   make(chan struct{}),
		sellers:   map[string]relay.Seller{},
		resellers: map[string]relay.Reseller{},
		tokens:    map[string]relay.Principal{},
		routes:    map[accountKey][]string{},
	}
}

// Apply folds one KV entry into the view.
func (g *View) Apply(e jetstream.KeyValueEntry, log zerolog.Logger) {
	g.mu.Lock()
	deleted := e.Operation() != jetstream.KeyValuePut
	var old, cur *relay.Reseller
	switch key := e.Key(); {
	case strings.HasPrefix(key, keySeller):
		g.applySeller(strings.TrimPrefix(key, keySeller), e.Value(), deleted, log)
	case strings.HasPrefix(key, keyReseller):
		id := strings.TrimPrefix(key, keyReseller)
		old = lookup(g.resellers, id)
		g.applyReseller(id, e.Value(), deleted, log)
		cur = lookup(g.resellers, id)
	}
	g.rev = max(g.rev, e.Revision())
	close(g.changed)
	g.changed = make(chan struct{})
	hook := g.OnReseller
	g.mu.Unlock()
	if hook != nil && (old != nil || cur != nil) {
		hook(old, cur)
	}
}

// Changes returns a channel that is closed at the next change of the view.
func (g *View) Changes() <-chan struct{} {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.changed
}

func lookup(m map[string]relay.Reseller, id string) *relay.Reseller {
	if r, ok := m[id]; ok {
		return &r
	}
	return nil
}

func sellerToken(s relay.Seller) string     { return s.TokenSHA256 }
func resellerToken(r relay.Reseller) string { return r.TokenSHA256 }

// replace folds one seller or reseller record into m and the token index:
// the old record's token goes, the new one's (unless deleted or unreadable)
// comes, and it returns the old and the new record for the caller's own
// indexes.
func replace[T any](g *View, m map[string]T, role relay.Role, id string, val []byte, deleted bool, token func(T) string,
	log zerolog.Logger) (old, cur *T) {
	if o, ok := m[id]; ok {
		delete(g.tokens, token(o))
		delete(m, id)
		old = &o
	}
	if deleted {
		return old, nil
	}
	var rec T
	if err := json.Unmarshal(val, &rec); err != nil {
		log.Error().Err(err).Str(string(role)+"_id", id).Msgf("unreadable %s record skipped", role)
		return old, nil
	}
	m[id] = rec
	g.tokens[token(rec)] = relay.Principal{Role: role, ID: id}
	return old, &rec
}

func (g *View) applySeller(id string, val []byte, deleted bool, log zerolog.Logger) {
	replace(g, g.sellers, relay.RoleSeller, id, val, deleted, sellerToken, log)
}

func (g *View) applyReseller(id string, val []byte, deleted bool, log zerolog.Logger) {
	old, cur := replace(g, g.resellers, relay.RoleReseller, id, val, deleted, resellerToken, log)
	if old != nil {
		g.unroute(*old)
	}
	if cur == nil {
		return
	}
	for _, a := range cur.Accounts {
		k := accountKey{cur.Seller, a}
		g.routes[k] = insertSorted(g.routes[k], id)
	}
}

func (g *View) unroute(r relay.Reseller) {
	for _, a := range r.Accounts {
		k := accountKey{r.Seller, a}
		ids := slices.DeleteFunc(slices.Clone(g.routes[k]), func(s string) bool { return s == r.ID })
		if len(ids) == 0 {
			delete(g.routes, k)
		} else {
			g.routes[k] = ids
		}
	}
}

func insertSorted(ids []string, id string) []string {
	i, found := slices.BinarySearch(ids, id)
	if found {
		return ids
	}
	return slices.Insert(slices.Clone(ids), i, id)
}

// WaitRevision blocks until the view includes KV revision rev, so that a
// caller who just registered something can rely on it at once.
func (g *View) WaitRevision(ctx context.Context, rev uint64) error {
	for {
		g.mu.RLock()
		cur, ch := g.rev, g.changed
		g.mu.RUnlock()
		if cur >= rev {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("wait for registry revision %d: %w", rev, ctx.Err())
		}
	}
}

func (g *View) Principal(tokenHash string) (relay.Principal, bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	p, ok := g.tokens[tokenHash]
	return p, ok
}

func (g *View) Seller(id string) (relay.Seller, bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	s, ok := g.sellers[id]
	return s, ok
}

func (g *View) Reseller(id string) (relay.Reseller, bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	r, ok := g.resellers[id]
	return r, ok
}

func (g *View) AllSellers() []relay.Seller {
	g.mu.RLock()
	defer g.mu.RUnlock()
	out := make([]relay.Seller, 0, len(g.sellers))
	for _, s := range g.sellers {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b relay.Seller) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Taken reports whether id names a seller or a reseller: the two share one
// namespace, as their consumers and dead letters are named by id.
func (g *View) Taken(id string) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	_, s := g.sellers[id]
	_, r := g.resellers[id]
	return s || r
}

func (g *View) AllResellers() []relay.Reseller {
	g.mu.RLock()
	defer g.mu.RUnlock()
	out := make([]relay.Reseller, 0, len(g.resellers))
	for _, r := range g.resellers {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b relay.Reseller) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Route returns the resellers registered on one seller's account. The slice
// is shared: callers must not modify it.
func (g *View) Route(seller, account string) []string {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.routes[accountKey{seller, account}]
}

// RegisterSeller adds a seller and returns its record and its token, which
// is shown only now: the registry keeps a hash.
func (r *Registry) RegisterSeller(ctx context.Context, id string) (relay.Seller, string, error) {
	if p := events.NameProblem(id); p != "" {
		return relay.Seller{}, "", events.Invalid("id", "%s", p)
	}
	if r.reg.Taken(id) {
		return relay.Seller{}, "", fmt.Errorf("%w: %q is already registered (sellers and resellers share one set of ids)", events.ErrConflict, id)
	}
	token := NewToken(sellerTokenPrefix)
	s := relay.Seller{ID: id, TokenSHA256: HashToken(token), Created: time.Now().UTC()}
	if err := r.syncConsumer(ctx, SellerEndpoint(s)); err != nil {
		return relay.Seller{}, "", err
	}
	if err := r.createRecord(ctx, keySeller+id, s); err != nil {
		return relay.Seller{}, "", fmt.Errorf("register seller %q: %w", id, err)
	}
	r.log.Info().Str("seller_id", id).Msg("seller registered")
	return s, token, nil
}

// Seller returns a registered seller or an error wrapping
// [events.ErrNotFound].
func (r *Registry) Seller(id string) (relay.Seller, error) {
	s, ok := r.reg.Seller(id)
	if !ok {
		return relay.Seller{}, fmt.Errorf("%w: seller %q", events.ErrNotFound, id)
	}
	return s, nil
}

func (r *Registry) validateResellerSpec(spec *relay.ResellerSpec) error {
	ve := &events.ValidationError{}
	if p := events.NameProblem(spec.ID); p != "" {
		ve.Add("id", "%s", p)
	}
	if p := events.NameProblem(spec.Seller); p != "" {
		ve.Add("seller", "%s", p)
	} else if _, ok := r.reg.Seller(spec.Seller); !ok {
		ve.Add("seller", "unknown seller %q; register it first with POST /v1/sellers", spec.Seller)
	}
	if len(spec.Accounts) == 0 {
		ve.Add("accounts", "required; list at least one account id")
	}
	for i, a := range spec.Accounts {
		if p := events.TokenProblem(a); p != "" {
			ve.Add(fmt.Sprintf("accounts[%d]", i), "%s", p)
		}
	}
	if spec.Webhook != nil {
		CheckWebhook(ve, "webhook.", *spec.Webhook, r.AdminCallbackPolicy())
	}
	slices.Sort(spec.Accounts)
	spec.Accounts = slices.Compact(spec.Accounts)
	return ve.Err()
}

// RegisterReseller adds a reseller on one or more of a seller's accounts and
// creates its durable consumer. The registry record is written last, so a
// failure leaves no reseller behind (at most an unused consumer that a retry
// reuses).
func (r *Registry) RegisterReseller(ctx context.Context, spec relay.ResellerSpec) (relay.Reseller, relay.Credentials, error) {
	if err := r.validateResellerSpec(&spec); err != nil {
		return relay.Reseller{}, relay.Credentials{}, err
	}
	if r.reg.Taken(spec.ID) {
		return relay.Reseller{}, relay.Credentials{}, fmt.Errorf("%w: %q is already registered (sellers and resellers share one set of ids)", events.ErrConflict, spec.ID)
	}
	cred := relay.Credentials{Token: NewToken(resellerTokenPrefix)}
	rs := relay.Reseller{ID: spec.ID, Seller: spec.Seller, Accounts: spec.Accounts,
		TokenSHA256: HashToken(cred.Token), Created: time.Now().UTC(), Stream: r.layout.shardFor(spec.ID),
		NATSBcrypt: BcryptToken(cred.Token)}
	if spec.Webhook != nil {
		cred.WebhookSecret = r.ApplyWebhook(&rs.Webhook, *spec.Webhook, rs.Created)
	}
	if err := r.layout.CaptureReseller(ctx, rs); err != nil {
		return relay.Reseller{}, relay.Credentials{}, err
	}
	if err := r.syncConsumer(ctx, ResellerEndpoint(rs)); err != nil {
		return relay.Reseller{}, relay.Credentials{}, err
	}
	if err := r.createRecord(ctx, keyReseller+spec.ID, rs); err != nil {
		return relay.Reseller{}, relay.Credentials{}, fmt.Errorf("register reseller %q: %w", spec.ID, err)
	}
	r.log.Info().Str("reseller_id", rs.ID).Str("seller_id", rs.Seller).Strs("accounts", rs.Accounts).
		Str("stream", rs.Stream).Bool("webhook", rs.Webhook != nil).Msg("reseller registered")
	if len(r.reg.AllResellers())%100 == 1 {
		r.layout.warnCrowded() // every hundredth registration
	}
	return rs, cred, nil
}

// createRecord writes a new registry record and waits until the local view
// has it.
func (r *Registry) createRecord(ctx context.Context, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	rev, err := r.kv.Create(ctx, key, b)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("%w: %s already exists", events.ErrConflict, strings.ReplaceAll(key, ".", " "))
	}
	if err != nil {
		return store.Classify(err)
	}
	return r.reg.WaitRevision(ctx, rev)
}

// Authenticate maps a bearer token to its seller or reseller.
func (r *Registry) Authenticate(token string) (relay.Principal, bool) {
	if token == "" {
		return relay.Principal{}, false
	}
	return r.reg.Principal(HashToken(token))
}

// Reseller returns a registered reseller or an error wrapping
// [events.ErrNotFound].
func (r *Registry) Reseller(id string) (relay.Reseller, error) {
	rs, ok := r.reg.Reseller(id)
	if !ok {
		return relay.Reseller{}, fmt.Errorf("%w: reseller %q", events.ErrNotFound, id)
	}
	return rs, nil
}

// Resellers lists every registered reseller by id.
func (r *Registry) Resellers() []relay.Reseller { return r.reg.AllResellers() }
