package core

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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
	delivered       *prometheus.CounterVec // consumer, mode
	acked           *prometheus.CounterVec // consumer, mode
	deadLettered    *prometheus.CounterVec // consumer
	flagged         *prometheus.CounterVec // flag
	copies          prometheus.Counter
	deliveryLatency *prometheus.HistogramVec // mode
	webhookAttempts *prometheus.CounterVec   // consumer, outcome
	commits         prometheus.Counter
	commitSize      prometheus.Histogram
	receiptsRefused *prometheus.CounterVec // reason
	receiptsSkipped prometheus.Counter
	throttled       *prometheus.CounterVec // consumer
}

func newMetrics(r *Relay) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry:        reg,
		IngestAccepted:  prometheus.NewCounter(prometheus.CounterOpts{Name: "billrelay_ingest_accepted_total", Help: "Events stored."}),
		IngestDuplicate: prometheus.NewCounter(prometheus.CounterOpts{Name: "billrelay_ingest_duplicate_total", Help: "Events sent again and recognised by id."}),
		IngestRejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "billrelay_ingest_rejected_total",
			Help: "Ingest requests refused, by reason."}, []string{"reason"}),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "billrelay_delivered_total",
			Help: "Events handed to a receiver (pulled, or pushed with a 2xx)."}, []string{"consumer", "mode"}),
		acked: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "billrelay_acked_total",
			Help: "Events acknowledged by their receiver."}, []string{"consumer", "mode"}),
		deadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "billrelay_dead_lettered_total",
			Help: "Events copied to the dead letters."}, []string{"consumer"}),
		flagged: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "billrelay_transitions_flagged_total",
			Help: "Events routed with a stale or regressive flag."}, []string{"flag"}),
		copies: prometheus.NewCounter(prometheus.CounterOpts{Name: "billrelay_router_copies_total",
			Help: "Per-reseller copies the router stored."}),
		deliveryLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "billrelay_delivery_latency_seconds",
			Help:    "From the event being stored to its receiver's ack.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600}}, []string{"mode"}),
		webhookAttempts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "billrelay_webhook_attempts_total",
			Help: "Webhook attempts by outcome."}, []string{"consumer", "outcome"}),
		commits: prometheus.NewCounter(prometheus.CounterOpts{Name: "billrelay_ingest_commits_total",
			Help: "Envelopes stored: each is one fsync covering a group of requests."}),
		commitSize: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "billrelay_ingest_commit_events",
			Help: "Events per envelope (group commit size).", Buckets: prometheus.ExponentialBuckets(1, 2, 14)}),
		receiptsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "billrelay_receipts_refused_total",
			Help: "Receipts published over NATS and refused (dropped, never applied), by reason."}, []string{"reason"}),
		receiptsSkipped: prometheus.NewCounter(prometheus.CounterOpts{Name: "billrelay_receipts_skipped_total",
			Help: "Acks and terms settled without a receipt because the store had no room for it."}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "billrelay_throttled_total",
			Help: "Requests answered 429 because a tenant reached its bound."}, []string{"consumer"}),
	}
	reg.MustRegister(m.IngestAccepted, m.IngestDuplicate, m.IngestRejected, m.delivered, m.acked, m.deadLettered,
		m.flagged, m.copies, m.deliveryLatency, m.webhookAttempts, m.commits, m.commitSize, m.receiptsRefused, m.receiptsSkipped, m.throttled, &consumerCollector{r: r},
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

// Metrics returns the relay's metrics, for /metrics and for adapters.
func (r *Relay) Metrics() *Metrics { return r.metrics }

// consumerCollector reads every consumer's state at scrape time.
type consumerCollector struct {
	r      *Relay
	mu     sync.Mutex
	cached []prometheus.Metric
	at     time.Time
}

var (
	descPending     = prometheus.NewDesc("billrelay_pending", "Events stored for a consumer, not yet delivered.", []string{"consumer", "role"}, nil)
	descAckPending  = prometheus.NewDesc("billrelay_ack_pending", "Events delivered, waiting for an ack.", []string{"consumer", "role"}, nil)
	descRedelivered = prometheus.NewDesc("billrelay_redelivered", "Events delivered more than once and not yet acked.", []string{"consumer", "role"}, nil)
	descDLQ         = prometheus.NewDesc("billrelay_dlq", "Dead letters not yet redriven.", []string{"consumer", "role"}, nil)
	descPaused      = prometheus.NewDesc("billrelay_paused", "1 while delivery is paused.", []string{"consumer", "role"}, nil)
	descOldest      = prometheus.NewDesc("billrelay_oldest_unacked_seconds", "Age of the oldest event not yet acked.", []string{"consumer", "role"}, nil)
	// Stream figures show on-call how full the store is and where, buckets
	// included (a bucket is a stream named KV_<bucket>).
	descStreamMsgs      = prometheus.NewDesc("billrelay_stream_messages", "Messages held by a stream.", []string{"stream"}, nil)
	descStreamBytes     = prometheus.NewDesc("billrelay_stream_bytes", "Bytes held by a stream.", []string{"stream"}, nil)
	descStreamConsumers = prometheus.NewDesc("billrelay_stream_consumers", "Consumers of a stream.", []string{"stream"}, nil)
	// The figures above are read at most once a second; this says when.
	descFiguresRead = prometheus.NewDesc("billrelay_figures_read_timestamp_seconds",
		"When the consumer and stream figures of this scrape were read from JetStream (Unix time).", nil, nil)
)

func (c *consumerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPending, descAckPending, descRedelivered, descDLQ, descPaused, descOldest,
		descStreamMsgs, descStreamBytes, descStreamConsumers, descFiguresRead} {
		ch <- d
	}
}

func (c *consumerCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.at) > time.Second { // coalesces bursts of scrapes, no more
		c.cached, c.at = c.collect(), time.Now()
	}
	for _, m := range c.cached {
		ch <- m
	}
	ch <- prometheus.MustNewConstMetric(descFiguresRead, prometheus.GaugeValue, float64(c.at.UnixNano())/1e9)
}

func (c *consumerCollector) collect() []prometheus.Metric {
	ctx, cancel := context.WithTimeout(c.r.bg, 10*time.Second)
	defer cancel()
	var out []prometheus.Metric
	for _, ep := range c.r.endpoints() {
		st, err := c.r.endpointStatus(ctx, ep)
		if err != nil {
			continue
		}
		labels := []string{ep.ID, string(ep.Role)}
		paused := 0.0
		if ep.Paused {
			paused = 1
		}
		out = append(out,
			prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(st.Pending), labels...),
			prometheus.MustNewConstMetric(descAckPending, prometheus.GaugeValue, float64(st.AckPending), labels...),
			prometheus.MustNewConstMetric(descRedelivered, prometheus.GaugeValue, float64(st.Redelivered), labels...),
			prometheus.MustNewConstMetric(descDLQ, prometheus.GaugeValue, float64(st.DLQ), labels...),
			prometheus.MustNewConstMetric(descPaused, prometheus.GaugeValue, paused, labels...),
			prometheus.MustNewConstMetric(descOldest, prometheus.GaugeValue, st.OldestUnacked.Seconds(), labels...))
	}
	return append(out, c.streams(ctx)...)
}

func (c *consumerCollector) streams(ctx context.Context) []prometheus.Metric {
	var out []prometheus.Metric
	list := c.r.js.ListStreams(ctx)
	for si := range list.Info() {
		st := si.State
		out = append(out,
			prometheus.MustNewConstMetric(descStreamMsgs, prometheus.GaugeValue, float64(st.Msgs), si.Config.Name),
			prometheus.MustNewConstMetric(descStreamBytes, prometheus.GaugeValue, float64(st.Bytes), si.Config.Name),
			prometheus.MustNewConstMetric(descStreamConsumers, prometheus.GaugeValue, float64(st.Consumers), si.Config.Name))
	}
	if err := list.Err(); err != nil {
		c.r.log.Debug().Err(err).Msg("stream figures incomplete")
	}
	return out
}
