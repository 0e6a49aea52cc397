package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/delivery"
	"github.com/billrelay/billrelay/relay/tenancy"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Config of one agent: which reseller, how to reach the relay, and where
// to hand events.
type Config struct {
	Reseller string
	Token    string
	// RelayURL is the relay's HTTP API, used when NATSURL is empty.
	RelayURL string
	// NATSURL reads the reseller's consumer directly over NATS.
	NATSURL string
	// Stream holds the reseller's consumer over NATS: DELIVERY unless the
	// relay spreads resellers over shards (the reseller's "stream").
	Stream string
	// SinkURL or SinkCommand: exactly one.
	SinkURL      string
	SinkCommand  string
	TermExitCode int
	SinkTimeout  time.Duration
	Concurrency  int
	Backoff      []time.Duration
	// AckWait of the reseller's consumer (HTTP mode; over NATS it is read
	// from the consumer).
	AckWait time.Duration
	// StateDir keeps the delivery gates across agent restarts.
	StateDir string
}

// Validate names every setting that cannot work.
func (c Config) Validate() error {
	var errs []error
	if c.Reseller == "" || c.Token == "" {
		errs = append(errs, errors.New("AGENT_RESELLER and AGENT_TOKEN are required"))
	}
	if (c.SinkURL == "") == (c.SinkCommand == "") {
		errs = append(errs, errors.New("set exactly one of AGENT_SINK_URL and AGENT_SINK_COMMAND"))
	}
	if c.NATSURL == "" && c.RelayURL == "" {
		errs = append(errs, errors.New("set AGENT_NATS_URL or AGENT_RELAY_URL"))
	}
	if c.NATSURL != "" && !relay.IsDeliveryStream(c.Stream) {
		errs = append(errs, fmt.Errorf("AGENT_STREAM: %q is not a delivery stream (DELIVERY, DELIVERY_01, ...)", c.Stream))
	}
	if c.Concurrency < 1 || len(c.Backoff) == 0 {
		errs = append(errs, errors.New("AGENT_CONCURRENCY must be at least 1 and AGENT_BACKOFF must list a delay"))
	}
	return errors.Join(errs...)
}

// Run delivers the reseller's events to the sink until ctx ends,
// reconnecting to the relay as often as it takes.
func Run(ctx context.Context, cfg Config, log zerolog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	src, ackWait, nc, err := openSource(ctx, cfg, log)
	if err != nil {
		return err
	}
	if nc != nil {
		defer nc.Close()
	}
	sink := newSink(cfg, nc)
	d := delivery.NewDispatcher(delivery.DispatchConfig{
		Concurrency: cfg.Concurrency, Backoff: cfg.Backoff, AckWait: ackWait,
		// The relay keeps the dead-letter copy: it captures the terminate.
		Dead:  func(context.Context, relay.Message, string) error { return nil },
		Gates: &fileGates{path: filepath.Join(cfg.StateDir, cfg.Reseller+".gates.json")},
		Log:   log.With().Str("reseller_id", cfg.Reseller).Logger(),
	}, sink, src)
	log.Info().Str("reseller_id", cfg.Reseller).Bool("nats", cfg.NATSURL != "").Msg("agent delivering")
	return d.Run(ctx)
}

func newSink(cfg Config, nc *nats.Conn) relay.Sink {
	var s relay.Sink
	if cfg.SinkURL != "" {
		s = &HTTPSink{URL: cfg.SinkURL, Timeout: cfg.SinkTimeout, Client: &http.Client{
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	} else {
		s = &CommandSink{Command: cfg.SinkCommand, TermExitCode: cfg.TermExitCode, Timeout: cfg.SinkTimeout}
	}
	return &onceSink{next: s, seen: newRecent(10_000), nc: nc, reseller: cfg.Reseller, stream: cfg.Stream}
}

// openSource connects over NATS (retrying until the relay is up) or
// prepares the HTTP pull source; over NATS it also returns the connection.
func openSource(ctx context.Context, cfg Config, log zerolog.Logger) (delivery.Source, time.Duration, *nats.Conn, error) {
	if cfg.NATSURL == "" {
		src := &httpSource{base: cfg.RelayURL, reseller: cfg.Reseller, token: cfg.Token,
			client: &http.Client{Timeout: relay.MaxPullWait + 30*time.Second}}
		return src, cfg.AckWait, nil, nil
	}
	nc, err := nats.Connect(cfg.NATSURL, nats.UserInfo(cfg.Reseller, cfg.Token), nats.Name("billrelay-agent "+cfg.Reseller),
		nats.CustomInboxPrefix(tenancy.InboxPrefix(cfg.Reseller)), nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { log.Warn().Err(err).Msg("relay connection lost") }),
		nats.ReconnectHandler(func(*nats.Conn) { log.Info().Msg("relay connection back") }))
	if err != nil {
		return nil, 0, nil, fmt.Errorf("connect to %s: %w", cfg.NATSURL, err)
	}
	js, _ := jetstream.New(nc)
	for {
		cons, err := js.Consumer(ctx, cfg.Stream, cfg.Reseller)
		if err == nil {
			return delivery.ConsumerSource{Consumer: cons}, cons.CachedInfo().Config.AckWait, nc, nil
		}
		if ctx.Err() != nil {
			nc.Close()
			return nil, 0, nil, ctx.Err()
		}
		log.Warn().Err(err).Str("stream", cfg.Stream).
			Msg("reseller consumer not reachable yet (with delivery shards, AGENT_STREAM must name the reseller's stream); retrying")
		select {
		case <-time.After(2 * time.Second):
		case <-ctx.Done():
		}
	}
}

// onceSink skips an event this agent already delivered (its ack may have
// been lost with a relay crash), unless it is a deliberate replay or
// redrive: a command that is not idempotent runs once per event. Over
// NATS it also records what the node applied, as the relay's pull API
// does, so that reconciliation sees it.
type onceSink struct {
	next     relay.Sink
	seen     *recent
	nc       *nats.Conn
	reseller string
	stream   string
}

func (s *onceSink) Deliver(ctx context.Context, m relay.Message) error {
	if !m.Replay && !m.Redriven && s.seen.has(m.ID) {
		return nil
	}
	err := s.next.Deliver(ctx, m)
	if errors.Is(err, relay.ErrGone) {
		return fmt.Errorf("local endpoint answered 410; retrying: %w", errors.Unwrap(err))
	}
	if err == nil {
		s.seen.add(m.ID)
		s.receipt(m, relay.ActionApplied, "")
	} else if errors.Is(err, relay.ErrPermanent) {
		s.receipt(m, relay.ActionRejected, err.Error())
	}
	return err
}

func (s *onceSink) receipt(m relay.Message, action, reason string) {
	if s.nc == nil {
		return // over HTTP, the acks API records receipts
	}
	rc := relay.Receipt{Stream: s.stream, Consumer: s.reseller, Seq: m.Seq, EventID: m.ID, Type: m.Type,
		State: m.State(), Action: action, Reason: reason, Time: time.Now().UTC(), Key: m.Key}
	b, _ := json.Marshal(rc)
	_ = s.nc.Publish(relay.ReceiptSubject(rc), b) // best effort: a lost receipt shows as drift, which a fix repairs
}

// recent is a bounded set of ids, oldest forgotten first.
type recent struct {
	mu   sync.Mutex
	set  map[string]struct{}
	ring []string
	next int
}

func newRecent(n int) *recent { return &recent{set: map[string]struct{}{}, ring: make([]string, n)} }

func (r *recent) has(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.set[id]
	return ok
}

func (r *recent) add(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.set[id]; ok {
		return
	}
	delete(r.set, r.ring[r.next])
	r.ring[r.next] = id
	r.set[id] = struct{}{}
	r.next = (r.next + 1) % len(r.ring)
}
