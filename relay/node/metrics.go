package node

import (
	"context"
	"sync"
	"time"

	metrics "github.com/billrelay/billrelay/relay/metrics"
	"github.com/prometheus/client_golang/prometheus"
)

func newMetrics(r *Node) *metrics.Metrics {
	m := metrics.New()
	m.Registry.MustRegister(&consumerCollector{r: r})
	return m
}

// consumerCollector reads every consumer's state at scrape time.
type consumerCollector struct {
	r      *Node
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
	for _, ep := range c.r.registry.Endpoints() {
		st, err := c.r.ops.EndpointStatus(ctx, ep)
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
