package store

import (
	"context"
	"fmt"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/nats-io/nats.go/jetstream"
)

// Stream and bucket names.
const ()

// ingestRetention keeps envelopes long enough for the dedupe window and
// for a router that was down a while.
func (r *Store) ingestRetention() time.Duration {
	return max(2*r.cfg.DedupeWindow, 24*time.Hour)
}

// routeDedupeWindow bounds how long the router's copies are deduplicated.
// It only has to cover the router re-reading its input after a crash (its
// AckWait plus a restart), so it stays short: each remembered id costs about
// 140 B of server memory per reseller copy.
const routeDedupeWindow = 10 * time.Minute

// Provision creates or updates every stream and the registry's bucket,
// which it returns. It is idempotent and runs at every start, so that a new
// relay version brings its topology with it and several relays on one
// cluster agree on it.
func (r *Store) Provision(ctx context.Context) (jetstream.KeyValue, error) {
	if err := r.ProvisionStreams(ctx, r.StreamConfigs()); err != nil {
		return nil, err
	}
	kv, err := r.EnsureBucket(ctx, jetstream.KeyValueConfig{
		Bucket:      relay.BucketRegistry,
		Description: "billrelay sellers, resellers and relay secrets",
		History:     5,
		Storage:     jetstream.FileStorage,
		Replicas:    r.cfg.Replicas,
		MaxBytes:    MaxBytes(&r.cfg, relay.BucketRegistry, 0),
	})
	if err != nil {
		return nil, fmt.Errorf("provision bucket %s: %w", relay.BucketRegistry, err)
	}
	return kv, nil
}

// ProvisionStreams applies cfgs, the settle streams first. An update
// refused for lack of room is tried again after the others: when the
// shares move (a larger settle reserve), one stream grows only once
// another shrank.
func (r *Store) ProvisionStreams(ctx context.Context, cfgs []jetstream.StreamConfig) error {
	settleFirst(cfgs)
	var again []jetstream.StreamConfig
	for _, sc := range cfgs {
		info, err := r.StreamInfo(ctx, sc.Name)
		if err != nil {
			return err
		}
		r.FitHeld(&sc, info)
		_, err = r.js.CreateOrUpdateStream(ctx, sc)
		switch {
		case err == nil:
		case Refused(err):
			again = append(again, sc)
		default:
			return fmt.Errorf("provision stream %s: %w", sc.Name, Classify(err))
		}
	}
	for _, sc := range again {
		if err := r.EnsureStream(ctx, sc); err != nil {
			return fmt.Errorf("provision stream %s: %w", sc.Name, err)
		}
	}
	return nil
}

// StreamConfigs are the streams every relay has; the delivery streams
// depend on the registry (see provisionDelivery).
func (r *Store) StreamConfigs() []jetstream.StreamConfig {
	cfgs := r.baseStreamConfigs()
	for i := range cfgs {
		r.persistDerived(&cfgs[i])
	}
	return cfgs
}

// persistDerived makes the streams the router rebuilds from INGEST
// async-persisted behind the fence (see fence.go).
func (r *Store) persistDerived(sc *jetstream.StreamConfig) {
	derived := sc.Name == relay.StreamEvents || sc.Name == relay.StreamOrders || relay.IsDeliveryStream(sc.Name)
	if DerivedLazy(r.cfg) && derived {
		sc.PersistMode = jetstream.AsyncPersistMode
		sc.AllowAtomicPublish = false
	}
}

// DeliveryConfig is one delivery stream: the router's copies for the
// resellers whose filters are subjects. A full one refuses new copies
// (DiscardNew): dropping the oldest would drop copies not yet delivered.
// The router retries until there is room, and ingest answers 507 once
// INGEST fills behind it.
func (r *Store) DeliveryConfig(name string, subjects []string) jetstream.StreamConfig {
	sc := jetstream.StreamConfig{
		Name:               name,
		Description:        "the router's copy of each event for each reseller",
		Subjects:           subjects,
		Retention:          jetstream.LimitsPolicy,
		Storage:            jetstream.FileStorage,
		Replicas:           r.cfg.Replicas,
		MaxAge:             r.cfg.Retention,
		MaxBytes:           MaxBytes(&r.cfg, name, r.deliveryShards()),
		Duplicates:         routeDedupeWindow,
		MaxConsumers:       r.cfg.MaxConsumers,
		MaxMsgSize:         relay.MaxMsgSize,
		Discard:            jetstream.DiscardNew,
		AllowAtomicPublish: true,
	}
	r.persistDerived(&sc)
	return sc
}

// baseStreamConfigs are the streams besides the delivery shards. Each has
// its MaxBytes from the store budget (budget.go) and a discard policy that
// drops nothing accepted: INGEST, EVENTS, ORDERS, DLQ and AUDIT refuse when
// full (DiscardNew); only trails whose oldest entries nobody needs any more
// drop them (DiscardOld), each within its own room.
func (r *Store) baseStreamConfigs() []jetstream.StreamConfig {
	return []jetstream.StreamConfig{
		{
			Name:         relay.StreamIngest,
			Description:  "ingest commit groups: one message, one fsync, per group of requests",
			Subjects:     []string{relay.SubjectIngest},
			Retention:    jetstream.LimitsPolicy,
			Storage:      jetstream.FileStorage,
			Replicas:     r.cfg.Replicas,
			MaxAge:       r.ingestRetention(),
			MaxBytes:     MaxBytes(&r.cfg, relay.StreamIngest, 0),
			Discard:      jetstream.DiscardNew,              // full: ingest answers 507, nothing unrouted is dropped
			Duplicates:   relay.CommitTimeout + time.Minute, // a commit repeated after no answer
			MaxConsumers: r.cfg.MaxConsumers,
			MaxMsgSize:   relay.MaxEnvelope + 64<<10,
			DenyDelete:   true,
		},
		{
			Name:               relay.StreamEvents,
			Description:        "events as sellers published them, once each",
			Subjects:           []string{events.EventsPrefix + ".>"},
			Retention:          jetstream.LimitsPolicy,
			Storage:            jetstream.FileStorage,
			Replicas:           r.cfg.Replicas,
			MaxAge:             r.cfg.Retention,
			MaxBytes:           MaxBytes(&r.cfg, relay.StreamEvents, 0),
			Discard:            jetstream.DiscardNew, // full: the router waits for room, INGEST keeps what it waits with
			Duplicates:         routeDedupeWindow,    // the relay's own index answers within the window
			MaxConsumers:       r.cfg.MaxConsumers,
			MaxMsgSize:         relay.MaxMsgSize,
			DenyDelete:         true,
			AllowAtomicPublish: true,
			AllowDirect:        true,
		},
		{
			Name:               relay.StreamOrders,
			Description:        "orders resellers placed or cancelled, for their seller",
			Subjects:           []string{events.OrdersPrefix + ".>"},
			Retention:          jetstream.LimitsPolicy,
			Storage:            jetstream.FileStorage,
			Replicas:           r.cfg.Replicas,
			MaxAge:             r.cfg.Retention,
			MaxBytes:           MaxBytes(&r.cfg, relay.StreamOrders, 0),
			Discard:            jetstream.DiscardNew, // an order a seller has not read is never dropped
			Duplicates:         r.cfg.DedupeWindow,
			MaxConsumers:       r.cfg.MaxConsumers,
			MaxMsgSize:         relay.MaxMsgSize,
			DenyDelete:         true,
			AllowAtomicPublish: true,
		},
		{
			Name:         relay.StreamDLQ,
			Description:  "copies of events that ran out of deliveries or were terminated",
			Subjects:     []string{"dlq.>"},
			Retention:    jetstream.LimitsPolicy,
			Storage:      jetstream.FileStorage,
			Replicas:     r.cfg.Replicas,
			MaxAge:       r.cfg.Retention,
			MaxBytes:     MaxBytes(&r.cfg, relay.StreamDLQ, 0),
			Discard:      jetstream.DiscardNew, // full: the copy is retried from its advisory, never an old one dropped
			Duplicates:   time.Hour,
			MaxConsumers: r.cfg.MaxConsumers,
			MaxMsgSize:   relay.MaxMsgSize,
		},
		{
			// Advisories are pointers the dead-letter watcher turns into
			// DLQ copies, in order, and acks. Those it acked are the
			// oldest, so DiscardOld drops them first: one not yet copied
			// is dropped only when a backlog of uncopied advisories (DLQ
			// full) fills the whole room: 2% of the store at the default
			// split, some 600,000 advisories of a 16 GiB store. DiscardNew
			// would lose the newest instead: JetStream sends an advisory
			// once. Even then the term's receipt keeps who rejected what.
			Name:         relay.StreamAdvisories,
			Description:  "captured advisories of exhausted and terminated deliveries",
			Subjects:     AdvisorySubjects(),
			Retention:    jetstream.LimitsPolicy,
			Storage:      jetstream.FileStorage,
			Replicas:     r.cfg.Replicas,
			MaxAge:       7 * 24 * time.Hour,
			MaxBytes:     MaxBytes(&r.cfg, relay.StreamAdvisories, 0),
			Discard:      jetstream.DiscardOld,
			MaxMsgSize:   maxAdvisorySize,
			MaxConsumers: r.cfg.MaxConsumers,
		},
		{
			// On-call's recent history: the oldest entries are the ones
			// to lose.
			Name:         relay.StreamOps,
			Description:  "operational events for on-call",
			Subjects:     []string{relay.OpsPrefix + ".>"},
			Retention:    jetstream.LimitsPolicy,
			Storage:      jetstream.FileStorage,
			Replicas:     r.cfg.Replicas,
			MaxAge:       r.cfg.Retention,
			MaxMsgs:      relay.OpsMaxKeep,
			MaxBytes:     MaxBytes(&r.cfg, relay.StreamOps, 0),
			Discard:      jetstream.DiscardOld,
			MaxMsgSize:   relay.MaxMsgSize,
			MaxConsumers: r.cfg.MaxConsumers,
		},
		{
			Name:         relay.StreamAudit,
			Description:  "who changed what, when and why",
			Subjects:     []string{relay.AuditPrefix + ".>"},
			Retention:    jetstream.LimitsPolicy,
			Storage:      jetstream.FileStorage,
			Replicas:     r.cfg.Replicas,
			MaxAge:       r.cfg.Retention,
			MaxBytes:     MaxBytes(&r.cfg, relay.StreamAudit, 0),
			Discard:      jetstream.DiscardNew, // the trail is never cut short; a change that cannot be recorded says so
			MaxMsgSize:   relay.MaxMsgSize,
			MaxConsumers: r.cfg.MaxConsumers,
			DenyDelete:   true,
			DenyPurge:    true,
		},
		{
			// Receipts keep the last receiptsPerItem per subject (one item
			// of one consumer): reconciliation reads only the last, and the
			// restart filter only those of the last seconds before a stop.
			// Within its room the oldest go first (DiscardOld): an item
			// whose last receipt aged out reads as never applied, which
			// reconciliation answers with a harmless snapshot. A receipt is
			// never refused for room, so an ack never waits on it.
			Name:               relay.StreamReceipts,
			Description:        "what resellers acked and terminated, journaled before the ack is sent",
			Subjects:           []string{relay.ReceiptsPrefix + ".>"},
			Retention:          jetstream.LimitsPolicy,
			Storage:            jetstream.FileStorage,
			Replicas:           r.cfg.Replicas,
			MaxAge:             r.cfg.Retention,
			MaxBytes:           MaxBytes(&r.cfg, relay.StreamReceipts, 0),
			MaxMsgsPerSubject:  receiptsPerItem,
			Discard:            jetstream.DiscardOld,
			MaxConsumers:       r.cfg.MaxConsumers,
			MaxMsgSize:         maxReceiptSize,
			AllowAtomicPublish: true,
		},
	}
}

// Limits of the small messages: an advisory, a receipt (both JSON with
// short fields, the reasons clipped to 512 bytes).
const (
	maxAdvisorySize = 64 << 10
	maxReceiptSize  = 64 << 10
	receiptsPerItem = 16
)

// ConsumerConfig is the durable pull consumer of one endpoint: a
// reseller's deliveries or a seller's orders. A webhook's retries follow
// the webhook schedule, which the dispatcher enforces, so JetStream does
// not cap its deliveries. A pushed endpoint is pinned, so that of several
// relays one delivers (in item order) and another takes over if it stops.
func (r *Store) ConsumerConfig(ep relay.Destination) jetstream.ConsumerConfig {
	maxDeliver := r.cfg.MaxDeliver
	if ep.Webhook != nil {
		maxDeliver = -1
	}
	filter := events.DeliverFilter(ep.ID)
	if ep.Role == relay.RoleSeller {
		filter = events.OrderFilter(ep.ID)
	}
	cfg := jetstream.ConsumerConfig{
		Durable:       ep.ID,
		Description:   "deliveries to " + ep.String(),
		FilterSubject: filter,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       r.cfg.AckWait,
		MaxDeliver:    maxDeliver,
		MaxAckPending: 10_000,
		MaxWaiting:    512,
		Replicas:      r.cfg.Replicas,
	}
	if ep.Webhook != nil {
		return r.pinned(cfg)
	}
	return cfg
}

// pinned makes cfg a consumer that one relay at a time reads: JetStream
// pins it to the first relay that pulls from group RelayGroup and moves it
// to another after FailoverAfter without a pull.
func (r *Store) pinned(cfg jetstream.ConsumerConfig) jetstream.ConsumerConfig {
	return Pinned(cfg, r.cfg.FailoverAfter)
}

// Pinned makes cfg a consumer of group RelayGroup pinned to one relay at a
// time, moved to another after failoverAfter without a pull.
func Pinned(cfg jetstream.ConsumerConfig, failoverAfter time.Duration) jetstream.ConsumerConfig {
	cfg.PriorityGroups = []string{RelayGroup}
	cfg.PriorityPolicy = jetstream.PriorityPolicyPinned
	cfg.PinnedTTL = failoverAfter
	return cfg
}
