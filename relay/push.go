package relay

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/billrelay/billrelay/events"
)

// PushConfig says how the relay pushes to resellers with a webhook.
type PushConfig struct {
	// NewSink builds the Sink of one reseller's webhook (adapters/webhook).
	NewSink func(rs Reseller) (Sink, error)
	// Backoff is the retry schedule (RELAY_WEBHOOK_BACKOFF).
	Backoff []time.Duration
	// Concurrency is the default number of items delivered in parallel.
	Concurrency int
	// BreakerThreshold and BreakerCooldown tune each endpoint's circuit.
	BreakerThreshold int
	BreakerCooldown  time.Duration
}

// pusher is one running webhook delivery.
type pusher struct {
	version string
	cancel  context.CancelFunc
	done    chan struct{}
}

// StartPush delivers to every reseller that has a webhook and is not
// paused, following registry changes (a new webhook, a rotated secret, a
// pause) as they happen. It stops when the relay closes.
func (r *Relay) StartPush(cfg PushConfig) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		running := map[string]*pusher{}
		for {
			r.reg.mu.RLock()
			changed := r.reg.changed
			r.reg.mu.RUnlock()
			r.reconcilePushers(cfg, running)
			select {
			case <-changed:
			case <-r.bg.Done():
				for id := range running {
					stopPusher(running, id)
				}
				return
			}
		}
	}()
}

func (r *Relay) reconcilePushers(cfg PushConfig, running map[string]*pusher) {
	want := map[string]Reseller{}
	for _, rs := range r.reg.allResellers() {
		if rs.Webhook != nil && !rs.Paused {
			want[rs.ID] = rs
		}
	}
	for id, p := range running {
		if rs, ok := want[id]; !ok || webhookVersion(rs) != p.version {
			stopPusher(running, id)
		}
	}
	for id, rs := range want {
		if running[id] == nil {
			r.startPusher(cfg, running, rs)
		}
	}
}

func webhookVersion(rs Reseller) string {
	b, _ := json.Marshal(rs.Webhook)
	return string(b)
}

func stopPusher(running map[string]*pusher, id string) {
	p := running[id]
	p.cancel()
	<-p.done
	delete(running, id)
}

func (r *Relay) startPusher(cfg PushConfig, running map[string]*pusher, rs Reseller) {
	log := r.log.With().Str("reseller_id", rs.ID).Logger()
	sink, err := cfg.NewSink(rs)
	if err != nil {
		log.Error().Err(err).Msg("webhook not started")
		return
	}
	ctx, cancel := context.WithCancel(r.bg)
	p := &pusher{version: webhookVersion(rs), cancel: cancel, done: make(chan struct{})}
	running[rs.ID] = p
	go func() {
		defer close(p.done)
		for ctx.Err() == nil {
			err := r.push(ctx, cfg, rs, sink)
			if err == nil || ctx.Err() != nil {
				return
			}
			log.Warn().Err(err).Msg("webhook delivery stopped; restarting")
			sleepCtx(ctx, time.Second)
		}
	}()
}

// push runs one reseller's dispatcher until ctx ends or the endpoint is
// gone (then the reseller is paused and the registry change stops it).
func (r *Relay) push(ctx context.Context, cfg PushConfig, rs Reseller, sink Sink) error {
	cons, err := r.consumer(ctx, StreamDelivery, rs.ID)
	if err != nil {
		return err
	}
	concurrency := rs.Webhook.Concurrency
	if concurrency == 0 {
		concurrency = cfg.Concurrency
	}
	d := NewDispatcher(DispatchConfig{
		Concurrency: concurrency, Backoff: cfg.Backoff, AckWait: r.cfg.AckWait,
		BreakerThreshold: cfg.BreakerThreshold, BreakerCooldown: cfg.BreakerCooldown,
		Dead: func(ctx context.Context, m Message, reason string) error {
			return r.deadLetter(ctx, rs.ID, m.Seq, events.DeliverSubject(rs.ID, m.Key), m.Body, m.Attempt, reason)
		},
		Gone:   func(ctx context.Context, err error) { r.webhookGone(rs.ID, err) },
		Report: func(st DeliveryStatus) { r.reportDelivery(rs.ID, st) },
		Gates:  kvGates{kv: r.gates, reseller: rs.ID},
		Log:    r.log.With().Str("reseller_id", rs.ID).Str("component", "webhook").Logger(),
	}, sink, ConsumerSource{Consumer: cons})
	if err := d.Run(ctx); !errors.Is(err, ErrGone) {
		return err
	}
	return nil
}

// webhookGone pauses a reseller whose endpoint answered 410: its events
// keep accumulating until an admin resumes it.
func (r *Relay) webhookGone(id string, cause error) {
	ctx, cancel := context.WithTimeout(r.bg, 30*time.Second)
	defer cancel()
	r.opsEvent(ctx, OpsWebhookGone, id, map[string]any{"error": cause.Error()})
	if err := r.Pause(ctx, id, "webhook answered 410 Gone"); err != nil {
		r.log.Error().Err(err).Str("reseller_id", id).Msg("pause after 410 failed")
	}
}

var circuitOpsMu sync.Mutex

// reportDelivery keeps the endpoint's status for GET /v1/resellers/{id}
// and raises an operational event when its circuit opens or closes.
func (r *Relay) reportDelivery(id string, st DeliveryStatus) {
	circuitOpsMu.Lock()
	defer circuitOpsMu.Unlock()
	prev, _ := r.status.Load(id)
	r.status.Store(id, st)
	was := CircuitClosed
	if p, ok := prev.(DeliveryStatus); ok {
		was = p.Circuit
	}
	switch {
	case was != CircuitOpen && st.Circuit == CircuitOpen:
		r.log.Warn().Str("reseller_id", id).Str("error", st.LastError).Msg("webhook circuit opened")
		go r.opsEvent(r.bg, OpsCircuitOpened, id, map[string]any{"error": st.LastError, "consecutive_failures": st.ConsecutiveFailures})
	case was != CircuitClosed && st.Circuit == CircuitClosed:
		r.log.Info().Str("reseller_id", id).Msg("webhook circuit closed")
		go r.opsEvent(r.bg, OpsCircuitClosed, id, nil)
	}
}

// WebhookStatus returns the delivery status of a reseller's webhook as
// this relay sees it, if it pushes to it.
func (r *Relay) WebhookStatus(id string) (DeliveryStatus, bool) {
	v, ok := r.status.Load(id)
	if !ok {
		return DeliveryStatus{}, false
	}
	return v.(DeliveryStatus), true
}
