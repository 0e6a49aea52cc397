package main

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/billrelay/billrelay/adapters/billmanager"
	"github.com/billrelay/billrelay/adapters/tmf"
	"github.com/billrelay/billrelay/adapters/webhook"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/push"
	"github.com/billrelay/billrelay/relay/registry"
	"github.com/kelseyhightower/envconfig"
	"github.com/rs/zerolog"
)

// config is the relay's whole configuration, read from RELAY_* variables.
// The README's configuration table documents every field (a test holds it
// to this struct). A setting the relay or an adapter defaults itself has no
// default tag: loadConfig starts from defaultConfig, whose values envconfig
// keeps when the variable is unset, so that each default is written once.
type config struct {
	DataDir         string        `envconfig:"DATA_DIR"`
	HTTPAddr        string        `envconfig:"HTTP_ADDR"`
	AdminToken      string        `envconfig:"ADMIN_TOKEN"`
	NATSURL         string        `envconfig:"NATS_URL"`
	NATSCreds       string        `envconfig:"NATS_CREDS"`
	NATSListen      string        `envconfig:"NATS_LISTEN"`
	NATSLeaf        string        `envconfig:"NATS_LEAF"`
	NATSDomain      string        `envconfig:"NATS_DOMAIN"`
	Replicas        int           `envconfig:"REPLICAS"`
	SyncInterval    syncInterval  `envconfig:"SYNC_INTERVAL" default:"always"`
	MaxFileStore    byteSize      `envconfig:"MAX_FILE_STORE"`
	MaxMemStore     byteSize      `envconfig:"MAX_MEM_STORE"`
	MaxConsumers    int           `envconfig:"MAX_CONSUMERS"`
	DeliveryShards  int           `envconfig:"DELIVERY_SHARDS"`
	AckWait         time.Duration `envconfig:"ACK_WAIT"`
	MaxDeliver      int           `envconfig:"MAX_DELIVER"`
	DedupeWindow    time.Duration `envconfig:"DEDUPE_WINDOW"`
	Retention       time.Duration `envconfig:"RETENTION"`
	ShutdownTimeout time.Duration `envconfig:"SHUTDOWN_TIMEOUT" default:"30s"`
	FailoverAfter   time.Duration `envconfig:"FAILOVER_AFTER"`

	WebhookBackoff     []time.Duration `envconfig:"WEBHOOK_BACKOFF"`
	WebhookTimeout     time.Duration   `envconfig:"WEBHOOK_TIMEOUT"`
	WebhookConcurrency int             `envconfig:"WEBHOOK_CONCURRENCY"`
	WebhookRotation    time.Duration   `envconfig:"WEBHOOK_ROTATION"`
	CircuitThreshold   int             `envconfig:"CIRCUIT_THRESHOLD"`
	CircuitCooldown    time.Duration   `envconfig:"CIRCUIT_COOLDOWN"`
	CallbackAllow      cidrList        `envconfig:"CALLBACK_ALLOW"`
	MaxHubs            int             `envconfig:"MAX_HUBS"`
	// Tenant bounds, defaulted by the relay.
	SettleReservePercent int     `envconfig:"SETTLE_RESERVE_PERCENT"`
	OrderRate            float64 `envconfig:"ORDER_RATE"`
	OrderBurst           int     `envconfig:"ORDER_BURST"`
	BillmanagerStatus    string  `envconfig:"BILLMANAGER_STATUS"`
	TMFAccountRole       string  `envconfig:"TMF_ACCOUNT_ROLE" default:"Customer"`
	SMTPAddr             string  `envconfig:"SMTP_ADDR"`
	SMTPFrom             string  `envconfig:"SMTP_FROM" default:"billrelay@localhost"`
	SMTPUsername         string  `envconfig:"SMTP_USERNAME"`
	SMTPPassword         string  `envconfig:"SMTP_PASSWORD"`
	LogLevel             string  `envconfig:"LOG_LEVEL" default:"info"`
	LogFormat            string  `envconfig:"LOG_FORMAT" default:"json"`
}

// defaultHTTPAddr is where the API listens unless RELAY_HTTP_ADDR says
// otherwise (healthcheck probes the same default).
const defaultHTTPAddr = "127.0.0.1:8080"

// defaultConfig holds the defaults the relay (relay.DefaultConfig,
// push.DefaultPush) and the webhook sink own, so that the binary never
// repeats them.
func defaultConfig() config {
	rc, pc := relay.DefaultConfig(), push.DefaultPush()
	return config{
		DataDir: rc.DataDir, HTTPAddr: defaultHTTPAddr, Replicas: rc.Replicas,
		MaxFileStore: byteSize(rc.MaxFileStore), MaxMemStore: byteSize(rc.MaxMemStore),
		MaxConsumers: rc.MaxConsumers, DeliveryShards: rc.DeliveryShards, AckWait: rc.AckWait, MaxDeliver: rc.MaxDeliver,
		DedupeWindow: rc.DedupeWindow, Retention: rc.Retention, FailoverAfter: rc.FailoverAfter, WebhookRotation: rc.WebhookRotation,
		WebhookBackoff: pc.Backoff, WebhookTimeout: webhook.DefaultTimeout, WebhookConcurrency: pc.Concurrency,
		CircuitThreshold: pc.BreakerThreshold, CircuitCooldown: pc.BreakerCooldown, MaxHubs: rc.MaxHubs,
		SettleReservePercent: rc.SettleReservePercent, OrderRate: rc.OrderRate, OrderBurst: rc.OrderBurst,
	}
}

// loadConfig reads RELAY_* and reports every bad variable by name at once.
func loadConfig() (config, error) {
	c := defaultConfig()
	if err := envconfig.Process("relay", &c); err != nil {
		return c, fmt.Errorf("configuration: %w", err)
	}
	var errs []error
	if _, err := zerolog.ParseLevel(c.LogLevel); err != nil {
		errs = append(errs, fmt.Errorf("RELAY_LOG_LEVEL: %q is not one of trace, debug, info, warn, error", c.LogLevel))
	}
	if c.LogFormat != "json" && c.LogFormat != "console" {
		errs = append(errs, fmt.Errorf("RELAY_LOG_FORMAT: %q is not json or console", c.LogFormat))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("RELAY_SHUTDOWN_TIMEOUT: must be positive"))
	}
	for _, d := range c.WebhookBackoff {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("RELAY_WEBHOOK_BACKOFF: %s is not a positive duration", d))
		}
	}
	if len(c.WebhookBackoff) == 0 {
		errs = append(errs, errors.New("RELAY_WEBHOOK_BACKOFF: list at least one retry delay, e.g. 1s,2s,5s"))
	}
	if _, err := billmanager.ParseStatuses(c.BillmanagerStatus); err != nil {
		errs = append(errs, fmt.Errorf("RELAY_BILLMANAGER_STATUS: %w", err))
	}
	if c.MaxHubs < 1 || c.MaxHubs > 1000 {
		errs = append(errs, fmt.Errorf("RELAY_MAX_HUBS: expected 1 to 1000, got %d", c.MaxHubs))
	}
	if c.WebhookConcurrency < 1 || c.WebhookConcurrency > 256 {
		errs = append(errs, fmt.Errorf("RELAY_WEBHOOK_CONCURRENCY: expected 1 to 256, got %d", c.WebhookConcurrency))
	}
	return c, errors.Join(errs...)
}

func (c config) relay() relay.Config {
	return relay.Config{
		DataDir: c.DataDir, NATSURL: c.NATSURL, NATSCredsFile: c.NATSCreds, NATSListen: c.NATSListen, NATSLeaf: c.NATSLeaf, NATSDomain: c.NATSDomain, Replicas: c.Replicas,
		SyncAlways: c.SyncInterval.always, SyncInterval: c.SyncInterval.every,
		MaxFileStore: int64(c.MaxFileStore), MaxMemStore: int64(c.MaxMemStore),
		MaxConsumers: c.MaxConsumers, DeliveryShards: c.DeliveryShards, AckWait: c.AckWait, MaxDeliver: c.MaxDeliver,
		DedupeWindow: c.DedupeWindow, Retention: c.Retention, WebhookRotation: c.WebhookRotation,
		FailoverAfter: c.FailoverAfter, CallbackAllow: c.CallbackAllow, MaxHubs: c.MaxHubs,
		SettleReservePercent: c.SettleReservePercent, OrderRate: c.OrderRate, OrderBurst: c.OrderBurst,
	}
}

func (c config) push() push.PushConfig {
	return push.PushConfig{
		NewSink: sinkFactory(c), Backoff: c.WebhookBackoff,
		Concurrency: c.WebhookConcurrency, BreakerThreshold: c.CircuitThreshold, BreakerCooldown: c.CircuitCooldown,
	}
}

func newLogger(c config) zerolog.Logger {
	lvl, _ := zerolog.ParseLevel(c.LogLevel)
	zerolog.DurationFieldUnit = time.Millisecond
	zerolog.DurationFieldInteger = false
	var log zerolog.Logger
	if c.LogFormat == "console" {
		log = zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr, TimeFormat: time.RFC3339})
	} else {
		log = zerolog.New(os.Stderr)
	}
	return log.Level(lvl).With().Timestamp().Logger()
}

// syncInterval is "always" (fsync before every acknowledgement, the
// default) or a duration such as 2m (JetStream's own default: faster, but
// acknowledged events can be lost on power failure).
type syncInterval struct {
	always bool
	every  time.Duration
}

func (s *syncInterval) Decode(v string) error {
	if v == "" || strings.EqualFold(v, "always") {
		*s = syncInterval{always: true}
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return fmt.Errorf("expected \"always\" or a positive duration such as 2m, got %q", v)
	}
	*s = syncInterval{every: d}
	return nil
}

// byteSize reads 16GiB, 512MiB, 1GB, or a plain number of bytes.
type byteSize int64

func (b *byteSize) Decode(v string) error {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1}}
	mult := int64(1)
	num := strings.TrimSpace(v)
	for _, u := range units {
		if strings.HasSuffix(num, u.suffix) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(num, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 {
		return fmt.Errorf("expected a size such as 16GiB or 512MiB, got %q", v)
	}
	*b = byteSize(n * mult)
	return nil
}

// sinkFactory builds a reseller's push sink: its TMF hubs, or its Standard
// Webhooks endpoint, each dialling under the policy the relay gives it.
func sinkFactory(c config) func(relay.Webhook, registry.CallbackPolicy) (relay.Sink, error) {
	clients := &webhook.Clients{}
	std := webhook.NewFactory(c.WebhookTimeout, clients)
	return func(w relay.Webhook, p registry.CallbackPolicy) (relay.Sink, error) {
		if w.Format == relay.FormatTMF {
			return &tmf.HubSink{Hubs: w.Hubs, Client: clients.For(p), Timeout: c.WebhookTimeout}, nil
		}
		return std(w, p)
	}
}

// cidrList reads RELAY_CALLBACK_ALLOW: comma-separated CIDR prefixes or
// addresses.
type cidrList []netip.Prefix

func (l *cidrList) Decode(v string) error {
	if strings.TrimSpace(v) == "" {
		*l = nil
		return nil
	}
	allow, err := registry.ParseAllow(strings.Split(v, ","))
	if err != nil {
		return fmt.Errorf("expected comma-separated CIDR prefixes such as 10.20.0.0/16,fd12::/48: %w", err)
	}
	*l = allow
	return nil
}
