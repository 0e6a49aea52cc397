package relay

import "time"

const StreamAudit = "AUDIT"

const StreamIngest = "INGEST"

const StreamAdvisories = "ADVISORIES"

const StreamDLQ = "DLQ"

// Headers the relay sets on stored messages. Consumers that read JetStream
// directly (the agent, native NATS resellers) rely on them; all other
// headers (such as the Nats-Batch-* ones of atomic batches) are to be
// ignored.
const (
	HeaderContentType = "Content-Type"
	HeaderType        = "Relay-Type"
	HeaderEventSeq    = "Relay-Event-Seq"
	HeaderReplay      = "Relay-Replay"
	HeaderRedriven    = "Relay-Redriven"
	HeaderEventID     = "Relay-Event-Id"
	HeaderFlags       = "Relay-Flags"
	HeaderStored      = "Relay-Stored"
	HeaderState       = "Relay-State"
	HeaderKind        = "Relay-Kind"
	HeaderTime        = "Relay-Time"
	HeaderSequence    = "Relay-Sequence"
	HeaderApplies     = "Relay-Applies"
	HeaderOrderItem   = "Relay-Order-Item"
	ContentTypeCE     = "application/cloudevents+json"
)

const StreamOps = "OPS"

// Item ownership: an item a reseller ordered (order.placed) belongs to it,
// and the seller's events about it go to that reseller alone; an item of
// unknown owner goes to every reseller of its account. Ownership lives in
// the RELAY_OWNERS bucket and is watched into memory, so routing never
// waits for a lookup.
const BucketOwners = "RELAY_OWNERS"

const StreamReceipts = "RECEIPTS"

// BucketGates holds the delivery gates of push deliveries.
const BucketGates = "RELAY_GATES"

// BucketDone holds "done" marks: things that must happen once per event
// (a notification), checked before and marked after.
const BucketDone = "RELAY_DONE"

const StreamEvents = "EVENTS"

const StreamOrders = "ORDERS"

const StreamDelivery = "DELIVERY"

const BucketRegistry = "RELAY_REGISTRY"

// The AUDIT stream keeps who changed what, when and why: every manual
// event, pause, resume, replay, redrive, reconciliation fix, webhook
// change and registration made through the admin API.
const (
	AuditPrefix = "audit"
)

// The JetStream advisories the relay captures: a delivery that ran out of
// attempts, and one a client terminated.
const (
	AdvisoryMaxDeliv = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES."
	AdvisoryTerm     = "$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED."
)

// StreamOps keeps operational events: things on-call must hear about
// through a channel that does not depend on the failing endpoint.
const (
	OpsPrefix  = "ops"
	OpsMaxKeep = 100_000
)

// ReceiptsPrefix starts the subjects of RECEIPTS.
const ReceiptsPrefix = "receipts"

// MaxMsgSize bounds one stored event (the ingest body limit is 1 MiB).
const MaxMsgSize = 2 << 20

// SubjectIngest is where StreamIngest keeps its envelopes: one message per
// commit group.
const SubjectIngest = "ingest.commit"

// CommitTimeout bounds one commit group's store, retries included.
const CommitTimeout = 30 * time.Second

// MaxEnvelope bounds one commit group's message.
const MaxEnvelope = 4 << 20

// Types of the operational events on StreamOps.
const (
	OpsResellerPaused  = "relay.reseller.paused"
	OpsResellerResumed = "relay.reseller.resumed"
	OpsWebhookGone     = "relay.webhook.gone"
	OpsCircuitOpened   = "relay.circuit.opened"
	OpsCircuitClosed   = "relay.circuit.closed"
	OpsDeadLettered    = "relay.event.dead_lettered"
)
