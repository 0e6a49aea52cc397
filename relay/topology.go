package relay

import (
	"context"
	"fmt"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/nats-io/nats.go/jetstream"
)

// Stream and bucket names.
const (
	StreamEvents   = "EVENTS"
	StreamOrders   = "ORDERS"
	StreamDelivery = "DELIVERY"
	BucketRegistry = "RELAY_REGISTRY"
	routerConsumer = "router"
)

// maxMsgSize bounds one stored event (the ingest body limit is 1 MiB).
const maxMsgSize = 2 << 20

// ingestRetention keeps envelopes long enough for the dedupe window and
// for a router that was down a while.
func (r *Relay) ingestRetention() time.Duration {
	return max(2*r.cfg.DedupeWindow, 24*time.Hour)
}

// routeDedupeWindow bounds how long the router's copies are deduplicated.
// It only has to cover the router re-reading its input after a crash (its
// AckWait plus a restart), so it stays short: each remembered id costs about
// 140 B of server memory per reseller copy.
const routeDedupeWindow = 10 * time.Minute

// provision creates or updates every stream and bucket. It is idempotent and
// runs at every start, so that a new relay version brings its topology with
// it and several relays on one cluster agree on it.
func (r *Relay) provision(ctx context.Context) error {
	for _, sc := range r.streamConfigs() {
		if _, err := r.js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("provision stream %s: %w", sc.Name, err)
		}
	}
	kv, err := r.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      BucketRegistry,
		Description: "billrelay sellers, resellers and relay secrets",
		History:     5,
		Storage:     jetstream.FileStorage,
		Replicas:    r.cfg.Replicas,
	})
	if err != nil {
		return fmt.Errorf("provision bucket %s: %w", BucketRegistry, err)
	}
	r.kv = kv
	return nil
}

// streamConfigs are the streams every relay has; the delivery streams
// depend on the registry (see provisionDelivery).
func (r *Relay) streamConfigs() []jetstream.StreamConfig {
	cfgs := r.baseStreamConfigs()
	for i := range cfgs {
		r.persistDerived(&cfgs[i])
	}
	return cfgs
}

// persistDerived makes the streams the router rebuilds from INGEST
// async-persisted behind the fence (see fence.go).
func (r *Relay) persistDerived(sc *jetstream.StreamConfig) {
	derived := sc.Name == StreamEvents || sc.Name == StreamOrders || IsDeliveryStream(sc.Name)
	if r.derivedLazy() && derived {
		sc.PersistMode = jetstream.AsyncPersistMode
		sc.AllowAtomicPublish = false
	}
}

// deliveryConfig is one delivery stream: the router's copies for the
// resellers whose filters are subjects.
func (r *Relay) deliveryConfig(name string, subjects []string) jetstream.StreamConfig {
	sc := jetstream.StreamConfig{
		Name:               name,
		Description:        "the router's copy of each event for each reseller",
		Subjects:           subjects,
		Retention:          jetstream.LimitsPolicy,
		Storage:            jetstream.FileStorage,
		Replicas:           r.cfg.Replicas,
		MaxAge:             r.cfg.Retention,
		Duplicates:         routeDedupeWindow,
		MaxConsumers:       r.cfg.MaxConsumers,
		MaxMsgSize:         maxMsgSize,
		Discard:            jetstream.DiscardOld,
		AllowAtomicPublish: true,
	}
	r.persistDerived(&sc)
	return sc
}

func (r *Relay) baseStreamConfigs() []jetstream.StreamConfig {
	return []jetstream.StreamConfig{
		{
			Name:         StreamIngest,
			Description:  "ingest commit groups: one message, one fsync, per group of requests",
			Subjects:     []string{subjectIngest},
			Retention:    jetstream.LimitsPolicy,
			Storage:      jetstream.FileStorage,
			Replicas:     r.cfg.Replicas,
			MaxAge:       r.ingestRetention(),
			Duplicates:   commitTimeout + time.Minute, // a commit repeated after no answer
			MaxConsumers: r.cfg.MaxConsumers,
			MaxMsgSize:   maxEnvelope + 64<<10,
			DenyDelete:   true,
		},
		{
			Name:               StreamEvents,
			Description:        "events as sellers published them, once each",
			Subjects:           []string{events.EventsPrefix + ".>"},
			Retention:          jetstream.LimitsPolicy,
			Storage:            jetstream.FileStorage,
			Replicas:           r.cfg.Replicas,
			MaxAge:             r.cfg.Retention,
			Duplicates:         routeDedupeWindow, // the relay's own index answers within the window
			MaxConsumers:       r.cfg.MaxConsumers,
			MaxMsgSize:         maxMsgSize,
			Discard:            jetstream.DiscardOld,
			DenyDelete:         true,
			AllowAtomicPublish: true,
			AllowDirect:        true,
		},
		{
			Name:               StreamOrders,
			Description:        "orders resellers placed or cancelled, for their seller",
			Subjects:           []string{events.OrdersPrefix + ".>"},
			Retention:          jetstream.LimitsPolicy,
			Storage:            jetstream.FileStorage,
			Replicas:           r.cfg.Replicas,
			MaxAge:             r.cfg.Retention,
			Duplicates:         r.cfg.DedupeWindow,
			MaxConsumers:       r.cfg.MaxConsumers,
			MaxMsgSize:         maxMsgSize,
			DenyDelete:         true,
			AllowAtomicPublish: true,
		},
		{
			Name:         StreamDLQ,
			Description:  "copies of events that ran out of deliveries or were terminated",
			Subjects:     []string{"dlq.>"},
			Retention:    jetstream.LimitsPolicy,
			Storage:      jetstream.FileStorage,
			Replicas:     r.cfg.Replicas,
			MaxAge:       r.cfg.Retention,
			Duplicates:   time.Hour,
			MaxConsumers: r.cfg.MaxConsumers,
			MaxMsgSize:   maxMsgSize,
		},
		{
			Name:         StreamAdvisories,
			Description:  "captured advisories of exhausted and terminated deliveries",
			Subjects:     advisorySubjects,
			Retention:    jetstream.LimitsPolicy,
			Storage:      jetstream.FileStorage,
			Replicas:     r.cfg.Replicas,
			MaxAge:       7 * 24 * time.Hour,
			MaxConsumers: r.cfg.MaxConsumers,
		},
		{
			Name:         StreamOps,
			Description:  "operational events for on-call",
			Subjects:     []string{opsPrefix + ".>"},
			Retention:    jetstream.LimitsPolicy,
			Storage:      jetstream.FileStorage,
			Replicas:     r.cfg.Replicas,
			MaxAge:       r.cfg.Retention,
			MaxMsgs:      opsMaxKeep,
			MaxConsumers: r.cfg.MaxConsumers,
		},
		{
			Name:         StreamAudit,
			Description:  "who changed what, when and why",
			Subjects:     []string{auditPrefix + ".>"},
			Retention:    jetstream.LimitsPolicy,
			Storage:      jetstream.FileStorage,
			Replicas:     r.cfg.Replicas,
			MaxAge:       r.cfg.Retention,
			MaxConsumers: r.cfg.MaxConsumers,
			DenyDelete:   true,
			DenyPurge:    true,
		},
		{
			Name:               StreamReceipts,
			Description:        "what resellers acked and terminated, journaled before the ack is sent",
			Subjects:           []string{receiptsPrefix + ".>"},
			Retention:          jetstream.LimitsPolicy,
			Storage:            jetstream.FileStorage,
			Replicas:           r.cfg.Replicas,
			MaxAge:             r.cfg.Retention,
			MaxConsumers:       r.cfg.MaxConsumers,
			MaxMsgSize:         maxMsgSize,
			Discard:            jetstream.DiscardOld,
			AllowAtomicPublish: true,
		},
	}
}

// consumerConfig is the durable pull consumer of one endpoint: a
// reseller's deliveries or a seller's orders. A webhook's retries follow
// the webhook schedule, which the dispatcher enforces, so JetStream does
// not cap its deliveries. A pushed endpoint is pinned, so that of several
// relays one delivers (in item order) and another takes over if it stops.
func (r *Relay) consumerConfig(ep endpoint) jetstream.ConsumerConfig {
	maxDeliver := r.cfg.MaxDeliver
	if ep.webhook != nil {
		maxDeliver = -1
	}
	filter := events.DeliverFilter(ep.id)
	if ep.role == RoleSeller {
		filter = events.OrderFilter(ep.id)
	}
	cfg := jetstream.ConsumerConfig{
		Durable:       ep.id,
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
	if ep.webhook != nil {
		return r.pinned(cfg)
	}
	return cfg
}

func (r *Relay) routerConsumerConfig() jetstream.ConsumerConfig {
	return r.pinned(jetstream.ConsumerConfig{
		Durable:       routerConsumer,
		Description:   "expands INGEST envelopes into EVENTS, ORDERS and per-reseller DELIVERY copies",
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy, // see routeLoop: AckAll would ack redeliveries not yet routed
		AckWait:       routerAckWait,
		MaxDeliver:    -1,
		MaxAckPending: 20_000,
		Replicas:      r.cfg.Replicas,
	})
}

// routerAckWait is how soon an envelope lost in flight (with a server that
// died) is handed to the router again: routing it twice is harmless.
const routerAckWait = 10 * time.Second

// pinned makes cfg a consumer that one relay at a time reads: JetStream
// pins it to the first relay that pulls from group relayGroup and moves it
// to another after FailoverAfter without a pull.
func (r *Relay) pinned(cfg jetstream.ConsumerConfig) jetstream.ConsumerConfig {
	cfg.PriorityGroups = []string{relayGroup}
	cfg.PriorityPolicy = jetstream.PriorityPolicyPinned
	cfg.PinnedTTL = r.cfg.FailoverAfter
	return cfg
}
