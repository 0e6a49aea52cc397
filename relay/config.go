package relay

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// MinFileStore is the smallest store the budget can split.
const MinFileStore = 1 << 20

// maxHubsLimit caps RELAY_MAX_HUBS: every hub is a request per event.
const maxHubsLimit = 1000

// Config is everything the relay needs to run. cmd/billrelay fills it from
// RELAY_* variables; tests fill it directly.
type Config struct {
	// DataDir holds the embedded JetStream store.
	DataDir string
	// NATSURL, when set, connects to an external NATS server or cluster
	// instead of starting the embedded one.
	NATSURL string
	// NATSCredsFile authenticates to an external NATS with a .creds file.
	NATSCredsFile string
	// NATSLeaf, when set, makes the embedded server a leaf node of the NATS
	// servers at these URLs (comma-separated), with JetStream off locally:
	// the streams live on the hub, the relay runs beside its billing node.
	NATSLeaf string
	// NATSDomain is the JetStream domain the streams live in: the hub's,
	// required in leaf mode (JetStream reaches across a leaf connection
	// only by domain).
	NATSDomain string
	// NATSListen, when set, makes the embedded server accept NATS clients
	// (resellers with their own credentials) on this host:port.
	NATSListen string
	// FeatureFlags are passed to the embedded server (e.g. js_ack_fc_v2).
	FeatureFlags map[string]bool
	// Replicas of every stream and bucket (1 embedded, 3 on a cluster).
	Replicas int
	// SyncAlways makes the embedded store fsync before it acknowledges.
	SyncAlways bool
	// SyncInterval is the embedded store's fsync period when SyncAlways is
	// off (JetStream's own default is 2m).
	SyncInterval time.Duration
	// MaxFileStore and MaxMemStore pin the embedded server's store limits
	// instead of letting it size itself from the free disk.
	MaxFileStore int64
	MaxMemStore  int64
	// SettleReservePercent is the share of MaxFileStore kept for settling
	// (receipts, captured advisories, dead letters): a store that INGEST,
	// EVENTS and DELIVERY filled still takes acks and terms (see budget.go).
	// On an external NATS MaxFileStore is the room the relay's streams take
	// there (per replica), split the same way.
	SettleReservePercent int
	// OrderRate and OrderBurst bound the orders one reseller may publish:
	// a token bucket refilled at OrderRate per second holding OrderBurst.
	// Past it that reseller alone is answered 429.
	OrderRate  float64
	OrderBurst int
	// DeliveryShards spreads resellers over this many delivery streams
	// (DELIVERY, DELIVERY_01, ...). JetStream finds a filtered consumer's
	// next message by scanning its stream, so 1,000 resellers on one stream
	// each scan every other reseller's copies; with shards each scans its
	// own stream only. 1 keeps the single DELIVERY stream of the design.
	// A reseller stays on the stream it was registered on.
	DeliveryShards int
	// MaxConsumers per stream, set explicitly (nats-server 2.15 defaults to
	// 1000 per stream, which caps the number of resellers).
	MaxConsumers int
	// AckWait is how long a reseller holds a delivered event before it is
	// delivered again.
	AckWait time.Duration
	// MaxDeliver bounds deliveries of one event to one reseller; -1 means
	// unlimited.
	MaxDeliver int
	// DedupeWindow is how long an event id is remembered by EVENTS.
	DedupeWindow time.Duration
	// Retention is the maximum age of stored events and copies.
	Retention time.Duration
	// ServerName names the embedded server in logs and cluster views.
	ServerName string
	// WebhookRotation is how long a replaced webhook secret keeps signing.
	WebhookRotation time.Duration
	// FailoverAfter is how long the relay routing or pushing to a webhook
	// may stop pulling before another relay on the same cluster takes over
	// (JetStream's pinned-client TTL).
	FailoverAfter time.Duration
	// CallbackAllow admits these prefixes for every callback, also the
	// private ranges a tenant's hub is otherwise refused (see
	// CallbackPolicy).
	CallbackAllow []netip.Prefix
	// MaxHubs bounds the TMF hubs of one reseller.
	MaxHubs int
}

// DefaultConfig is the configuration Open completes an empty one to: the
// one place the relay's defaults are written (cmd/billrelay starts from it).
func DefaultConfig() Config {
	var c Config
	c.SetDefaults()
	return c
}

// Defaults of the tenant bounds, shared with cmd/billrelay's variables.
const (
	DefaultSettleReservePercent = 10
	DefaultOrderRate            = 20.0
	DefaultOrderBurst           = 200
)

func (c *Config) SetDefaults() {
	if c.DataDir == "" {
		c.DataDir = "./data"
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.MaxFileStore == 0 {
		c.MaxFileStore = 16 << 30
	}
	if c.MaxMemStore == 0 {
		c.MaxMemStore = 256 << 20
	}
	if c.MaxConsumers == 0 {
		c.MaxConsumers = 4096
	}
	if c.SettleReservePercent == 0 {
		c.SettleReservePercent = DefaultSettleReservePercent
	}
	if c.OrderRate == 0 {
		c.OrderRate = DefaultOrderRate
	}
	if c.OrderBurst == 0 {
		c.OrderBurst = DefaultOrderBurst
	}
	if c.DeliveryShards == 0 {
		c.DeliveryShards = 1
	}
	if c.AckWait == 0 {
		c.AckWait = 30 * time.Second
	}
	if c.MaxDeliver == 0 {
		c.MaxDeliver = 20
	}
	if c.DedupeWindow == 0 {
		c.DedupeWindow = time.Hour
	}
	if c.Retention == 0 {
		c.Retention = 30 * 24 * time.Hour
	}
	if c.ServerName == "" {
		c.ServerName = "billrelay"
	}
	if c.WebhookRotation == 0 {
		c.WebhookRotation = 24 * time.Hour
	}
	if c.FailoverAfter == 0 {
		c.FailoverAfter = 15 * time.Second
	}
	if c.MaxHubs == 0 {
		c.MaxHubs = 10
	}
}

// Validate names every setting that cannot work.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Replicas < 1 || c.Replicas > 5 {
		bad("replicas: must be 1 to 5, got %d", c.Replicas)
	}
	if c.LocalJetStream() && c.Replicas != 1 {
		bad("replicas: the embedded server keeps 1 replica; set a NATS URL or leaf for %d", c.Replicas)
	}
	if c.NATSURL != "" && c.NATSLeaf != "" {
		bad("nats leaf: either connect to NATS (url) or run as its leaf node, not both")
	}
	if c.NATSLeaf != "" && c.NATSDomain == "" {
		bad("nats domain: a leaf node reaches the hub's JetStream by its domain; set it (the hub's jetstream { domain: ... })")
	}
	if c.NATSLeaf != "" && c.NATSListen != "" {
		bad("nats listen: in leaf mode resellers connect to the hub, not to the relay")
	}
	if c.AckWait < time.Second {
		bad("ack wait: must be at least 1s, got %s", c.AckWait)
	}
	if c.MaxDeliver < -1 || c.MaxDeliver == 0 {
		bad("max deliver: must be -1 (unlimited) or at least 1, got %d", c.MaxDeliver)
	}
	if c.DedupeWindow > c.Retention {
		bad("dedupe window %s: must not exceed retention %s", c.DedupeWindow, c.Retention)
	}
	if c.NATSListen != "" && c.NATSURL != "" {
		bad("nats listen: only the embedded server listens; on an external NATS give resellers accounts there")
	}
	if c.FailoverAfter < time.Second {
		bad("failover after: must be at least 1s, got %s", c.FailoverAfter)
	}
	if c.MaxConsumers < 16 {
		bad("max consumers: must be at least 16, got %d", c.MaxConsumers)
	}
	if c.DeliveryShards < 1 || c.DeliveryShards > MaxDeliveryShards {
		bad("delivery shards: must be 1 to %d, got %d", MaxDeliveryShards, c.DeliveryShards)
	}
	if c.MaxHubs < 1 || c.MaxHubs > maxHubsLimit {
		bad("max hubs: must be 1 to %d, got %d", maxHubsLimit, c.MaxHubs)
	}
	if c.SettleReservePercent < 1 || c.SettleReservePercent > 50 {
		bad("settle reserve percent: must be 1 to 50, got %d", c.SettleReservePercent)
	}
	if c.MaxFileStore < MinFileStore {
		bad("max file store: must be at least %d bytes (1 MiB), got %d", MinFileStore, c.MaxFileStore)
	}
	if c.OrderRate <= 0 {
		bad("order rate: must be a positive number of orders per second, got %g", c.OrderRate)
	}
	if c.OrderBurst < 1 {
		bad("order burst: must be at least 1, got %d", c.OrderBurst)
	}
	if !c.SyncAlways && c.SyncInterval <= 0 && c.LocalJetStream() {
		bad("sync interval: set SyncAlways or a positive interval")
	}
	return errors.Join(errs...)
}

// LocalJetStream reports whether the relay keeps its streams in its own
// embedded server (neither an external NATS nor a leaf of one).
func (c *Config) LocalJetStream() bool { return c.NATSURL == "" && c.NATSLeaf == "" }

// MaxDeliveryShards bounds RELAY_DELIVERY_SHARDS: each shard is one more
// stream that syncs on its own and, on a cluster, one more Raft group.
const MaxDeliveryShards = 64
