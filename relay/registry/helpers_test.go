package registry

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/store/storetest"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// startJetStream runs a real nats-server with JetStream on t.TempDir() and
// a random port.
func startJetStream(t *testing.T) jetstream.JetStream { return storetest.JetStream(t) }

// registryBucket creates BucketRegistry as the store part does.
func registryBucket(t *testing.T, js jetstream.JetStream) jetstream.KeyValue {
	t.Helper()
	kv, err := js.CreateOrUpdateKeyValue(testCtx(t), jetstream.KeyValueConfig{Bucket: relay.BucketRegistry, History: 5})
	if err != nil {
		t.Fatalf("bucket: %v", err)
	}
	return kv
}

// trail is an Auditor that keeps what it was given.
type trail struct {
	mu      sync.Mutex
	entries []relay.AuditEntry
}

func (a *trail) Audit(_ context.Context, e relay.AuditEntry) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.entries = append(a.entries, e)
}

func (a *trail) actions() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, e := range a.entries {
		out = append(out, e.Action+" "+e.Target)
	}
	return out
}

// consumers is a Consumers that records the endpoints it synced.
type consumers struct {
	mu     sync.Mutex
	synced []string
}

func (c *consumers) SyncConsumer(_ context.Context, ep relay.Destination) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.synced = append(c.synced, ep.String()+" on "+ep.Stream)
	return nil
}

// jsStreams is the store part's side of Streams on a real JetStream:
// plain delivery streams, created or updated as asked.
type jsStreams struct{ js jetstream.JetStream }

func (s jsStreams) StreamInfo(ctx context.Context, name string) (*jetstream.StreamInfo, error) {
	st, err := s.js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return st.CachedInfo(), nil
}

func (jsStreams) DeliveryConfig(name string, subjects []string) jetstream.StreamConfig {
	return jetstream.StreamConfig{Name: name, Subjects: subjects, Storage: jetstream.FileStorage}
}

func (jsStreams) FitHeld(*jetstream.StreamConfig, *jetstream.StreamInfo) {}

func (s jsStreams) EnsureStream(ctx context.Context, sc jetstream.StreamConfig) error {
	_, err := s.js.CreateOrUpdateStream(ctx, sc)
	return err
}

// subjectsOf maps every delivery stream to its sorted subjects.
func subjectsOf(t *testing.T, js jetstream.JetStream) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	names := js.StreamNames(testCtx(t))
	for name := range names.Name() {
		if !relay.IsDeliveryStream(name) {
			continue
		}
		info, err := jsStreams{js}.StreamInfo(testCtx(t), name)
		if err != nil {
			t.Fatalf("stream %s: %v", name, err)
		}
		out[name] = slices.Sorted(slices.Values(info.Config.Subjects))
	}
	return out
}

// node is one relay's registry parts on a shared bucket.
type node struct {
	view      *View
	reg       *Registry
	layout    *Layout
	audit     *trail
	consumers *consumers
}

// openNode builds and opens one relay's registry over kv, running its
// watch until the test ends.
func openNode(t *testing.T, js jetstream.JetStream, kv jetstream.KeyValue, shards int) *node {
	t.Helper()
	n := &node{view: NewView(), audit: &trail{}, consumers: &consumers{}}
	cfg := testConfig(shards)
	n.layout = NewLayout(cfg, zerolog.Nop(), n.view, jsStreams{js})
	n.reg = New(cfg, zerolog.Nop(), kv, n.view, n.layout, n.audit.Audit, n.consumers.SyncConsumer)
	w := n.reg.Watch()
	if err := w.Open(testCtx(t)); err != nil {
		t.Fatalf("Open: %v", err)
	}
	runPart(t, w.Run)
	return n
}

// runPart runs an actor until the test ends and checks it stopped cleanly.
func runPart(t *testing.T, run func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// waitFor waits, on the view's change signal, until cond holds.
func waitFor(t *testing.T, v *View, what string, cond func() bool) {
	t.Helper()
	ctx := testCtx(t)
	for {
		ch := v.Changes()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("gave up waiting: %s", what)
		}
	}
}

func fieldsOf(t *testing.T, err error) []string {
	t.Helper()
	var ve *events.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v, want a validation error", err)
	}
	var out []string
	for _, f := range ve.Fields {
		out = append(out, f.Field)
	}
	return out
}

// testConfig is a relay's config with shards delivery streams.
func testConfig(shards int) relay.Config {
	cfg := relay.Config{DeliveryShards: shards}
	cfg.SetDefaults()
	return cfg
}
