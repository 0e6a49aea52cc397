package tenancy

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// The tests run the real embedded server on t.TempDir() with a random
// port, with the relay's side of it (the DELIVERY stream and one consumer
// per reseller) made over the internal connection, and the registry as a
// fake behind Registry.

// fakeRegistry is the registry view: put and remove change it first and
// then tell the accounts, in the order the registry does.
type fakeRegistry struct {
	mu       sync.Mutex
	m        map[string]relay.Reseller
	accounts *Accounts
}

func (f *fakeRegistry) Reseller(id string) (relay.Reseller, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rs, ok := f.m[id]
	return rs, ok
}

// put registers a reseller, or gives it a new token.
func (f *fakeRegistry) put(id, token string) {
	f.change(id, &relay.Reseller{ID: id, Seller: "sell-1", Accounts: []string{"acc-77"}, TokenSHA256: tokenSHA256(token)})
}

func (f *fakeRegistry) remove(id string) { f.change(id, nil) }

func (f *fakeRegistry) change(id string, cur *relay.Reseller) {
	f.mu.Lock()
	var old *relay.Reseller
	if rs, ok := f.m[id]; ok {
		old = &rs
	}
	if cur == nil {
		delete(f.m, id)
	} else {
		f.m[id] = *cur
	}
	f.mu.Unlock()
	f.accounts.Changed(old, cur)
}

// fakeClock is the accounts' clock, moved by the test: a ban ends when
// the test says so.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// bench is one embedded server listening for resellers.
type bench struct {
	emb   *Embedded
	url   string
	reg   *fakeRegistry
	clock *fakeClock
	js    jetstream.JetStream // the relay's own connection
}

func startBench(t *testing.T, flags map[string]bool) *bench {
	t.Helper()
	cfg := relay.Config{DataDir: t.TempDir(), SyncAlways: true, NATSListen: "127.0.0.1:0", FeatureFlags: flags}
	cfg.SetDefaults()
	reg := &fakeRegistry{m: map[string]relay.Reseller{}}
	emb, err := Start(cfg, 100*time.Millisecond, reg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		emb.Server().Shutdown()
		emb.Server().WaitForShutdown()
	})
	reg.accounts = emb.Accounts()
	clock := &fakeClock{t: time.Now()}
	emb.Accounts().mu.Lock()
	emb.Accounts().now = clock.now
	emb.Accounts().mu.Unlock()
	nc, err := nats.Connect("", emb.ConnectOptions()...)
	if err != nil {
		t.Fatalf("the relay's own connection: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: relay.StreamDelivery,
		Subjects: []string{events.DeliverPrefix + ".>"}}); err != nil {
		t.Fatal(err)
	}
	answerInfo(t, nc)
	return &bench{emb: emb, url: emb.Server().ClientURL(), reg: reg, clock: clock, js: js}
}

// answerInfo stands in for the relay's info intake: it answers a
// reseller's consumer info request (arriving on $BR.INFO.<id>) with what
// JetStream says of its consumer.
func answerInfo(t *testing.T, nc *nats.Conn) {
	t.Helper()
	_, err := nc.Subscribe(InfoIntakePrefix+".*", func(m *nats.Msg) {
		reseller := strings.TrimPrefix(m.Subject, InfoIntakePrefix+".")
		info, err := nc.Request("$JS.API.CONSUMER.INFO."+relay.StreamDelivery+"."+reseller, nil, 5*time.Second)
		if err == nil {
			_ = m.Respond(info.Data)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}

// register registers resellers, each with its consumer on DELIVERY, and
// returns their tokens.
func (b *bench) register(t *testing.T, ids ...string) map[string]string {
	t.Helper()
	tokens := map[string]string{}
	for _, id := range ids {
		if _, err := b.js.CreateOrUpdateConsumer(t.Context(), relay.StreamDelivery, jetstream.ConsumerConfig{
			Durable: id, FilterSubject: events.DeliverFilter(id), AckPolicy: jetstream.AckExplicitPolicy,
			AckWait: time.Minute}); err != nil {
			t.Fatal(err)
		}
		tokens[id] = "brr_token_of_" + id
		b.reg.put(id, tokens[id])
	}
	return tokens
}

// deliver stores n copies for a reseller, as the router does.
func (b *bench) deliver(t *testing.T, reseller string, n int) {
	t.Helper()
	for i := range n {
		k := events.Key{Seller: "sell-1", Account: "acc-77", Item: strconv.Itoa(i)}
		if _, err := b.js.Publish(t.Context(), events.DeliverSubject(reseller, k), []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
}

// runGuard runs the accounts' guard until the test ends.
func (b *bench) runGuard(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.emb.Accounts().Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("guard: %v", err)
		}
	})
}

// natsClient connects as a reseller and collects permission violations.
type natsClient struct {
	nc         *nats.Conn
	js         jetstream.JetStream
	violations chan string
	closed     chan struct{}
}

func connectAs(t *testing.T, url, user, password string) (*natsClient, error) {
	c := &natsClient{violations: make(chan string, 16), closed: make(chan struct{})}
	nc, err := nats.Connect(url, nats.UserInfo(user, password), nats.CustomInboxPrefix(InboxPrefix(user)),
		nats.MaxReconnects(0), nats.ClosedHandler(func(*nats.Conn) { close(c.closed) }),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if strings.Contains(err.Error(), "Permissions Violation") {
				select {
				case c.violations <- err.Error():
				default: // a flood's violations are not counted
				}
			}
		}))
	if err != nil {
		return nil, err
	}
	t.Cleanup(nc.Close)
	c.nc = nc
	c.js, _ = jetstream.New(nc)
	return c, nil
}

func (c *natsClient) mustViolate(t *testing.T, what string) {
	t.Helper()
	select {
	case v := <-c.violations:
		t.Logf("%s denied: %s", what, v)
	case <-time.After(10 * time.Second):
		t.Fatalf("%s was not denied", what)
	}
}

func waitClosed(t *testing.T, closed <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s was not closed", what)
	}
}

// mustRefuse fails when user can log in with password.
func mustRefuse(t *testing.T, url, user, password, why string) {
	t.Helper()
	if nc, err := nats.Connect(url, nats.UserInfo(user, password), nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Fatal(why)
	}
}
