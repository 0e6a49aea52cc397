// Package metrics holds the relay's Prometheus counters: every part moves its own
// figures on one registry that /metrics serves.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the relay's Prometheus figures. Counters move on the hot
// paths; per-consumer gauges (pending, ack pending, redelivered, dead
// letters, paused) are read from JetStream when scraped, at most every few
// seconds, so that scraping never loads the relay.
type Metrics struct {
	Registry *prometheus.Registry

	IngestAccepted  prometheus.Counter
	IngestDuplicate prometheus.Counter
	IngestRejected  *prometheus.CounterVec // reason
	Delivered       *prometheus.CounterVec // consumer, mode
	Acked           *prometheus.CounterVec // consumer, mode
	DeadLettered    *prometheus.CounterVec // consumer
	Flagged         *prometheus.CounterVec // flag
	Copies          prometheus.Counter
	DeliveryLatency *prometheus.HistogramVec // mode
	WebhookAttempts *prometheus.CounterVec   // consumer, outcome
	Commits         prometheus.Counter
	CommitSize      prometheus.Histogram
	ReceiptsRefused *prometheus.CounterVec // reason
	ReceiptsSkipped prometheus.Counter
	Throttled       *prometheus.CounterVec // consumer
}

// New makes the relay's counters on their own registry, with the Go and
// process collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry:        reg,
		IngestAccepted:  prometheus.NewCounter(prometheus.CounterOpts{Name: "billrelay_ingest_accepted_total", Help: "Events stored."}),
		IngestDuplicate: prometheus.NewCounter(prometheus.CounterOpts{Name: "billrelay_ingest_duplicate_total", Help: "Events sent again and recognised by id."}),
		IngestRejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "billrelay_ingest_rejected_total",
			Help: "Ingest requests refused, by reason."}, []string{"reason"}),
		Delivered: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "billrelay_delivered_total",
			Help: "Events handed to a receiver (pulled, or pushed with a 2xx)."}, []string{"consumer", "mode"}),
		Acked: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "billrelay_acked_total",
			Help: "Events acknowledged by their receiver."}, []string{"consumer", "mode"}),
		DeadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "billrelay_dead_lettered_total",
			Help: "Events copied to the dead letters."}, []string{"consumer"}),
		Flagged: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "billrelay_transitions_flagged_total",
			Help: "Events routed with a stale or regressive flag."}, []string{"flag"}),
		Copies: prometheus.NewCounter(prometheus.CounterOpts{Name: "billrelay_router_copies_total",
			Help: "Per-reseller copies the router stored."}),
		DeliveryLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "billrelay_delivery_latency_seconds",
			Help:    "From the event being stored to its receiver's ack.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600}}, []string{"mode"}),
		WebhookAttempts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "billrelay_webhook_attempts_total",
			Help: "Webhook attempts by outcome."}, []string{"consumer", "outcome"}),
		Commits: prometheus.NewCounter(prometheus.CounterOpts{Name: "billrelay_ingest_commits_total",
			Help: "Envelopes stored: each is one fsync covering a group of requests."}),
		CommitSize: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "billrelay_ingest_commit_events",
			Help: "Events per envelope (group commit size).", Buckets: prometheus.ExponentialBuckets(1, 2, 14)}),
		ReceiptsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "billrelay_receipts_refused_total",
			Help: "Receipts published over NATS and refused (dropped, never applied), by reason."}, []string{"reason"}),
		ReceiptsSkipped: prometheus.NewCounter(prometheus.CounterOpts{Name: "billrelay_receipts_skipped_total",
			Help: "Acks and terms settled without a receipt because the store had no room for it."}),
		Throttled: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "billrelay_throttled_total",
			Help: "Requests answered 429 because a tenant reached its bound."}, []string{"consumer"}),
	}
	reg.MustRegister(m.IngestAccepted, m.IngestDuplicate, m.IngestRejected, m.Delivered, m.Acked, m.DeadLettered,
		m.Flagged, m.Copies, m.DeliveryLatency, m.WebhookAttempts, m.Commits, m.CommitSize, m.ReceiptsRefused, m.ReceiptsSkipped, m.Throttled,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
