package push

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/delivery"
	"github.com/billrelay/billrelay/relay/dlq"
	"github.com/billrelay/billrelay/relay/registry"
	"github.com/billrelay/billrelay/relay/store"
)

// PushConfig says how the relay pushes to resellers with a webhook.
type PushConfig struct {
	// NewSink builds the Sink of one webhook (adapters/webhook) or set of
	// TMF hubs, dialling only what p admits.
	NewSink func(w relay.Webhook, p registry.CallbackPolicy) (relay.Sink, error)
	// Backoff is the retry schedule (RELAY_WEBHOOK_BACKOFF).
	Backoff []time.Duration
	// Concurrency is the default number of items delivered in parallel.
	Concurrency int
	// BreakerThreshold and BreakerCooldown tune each endpoint's circuit.
	BreakerThreshold int
	BreakerCooldown  time.Duration
}

// DefaultPush is how the relay pushes when nothing is configured: the
// dispatcher's own defaults.
func DefaultPush() PushConfig {
	var d delivery.DispatchConfig
	d.SetDefaults()
	return PushConfig{Backoff: d.Backoff, Concurrency: d.Concurrency, BreakerThreshold: d.BreakerThreshold, BreakerCooldown: d.BreakerCooldown}
}

// pusher is one running webhook delivery.
type pusher struct {
	version string
	cancel  context.CancelFunc
	done    <-chan struct{}
}

// Run delivers to every reseller (and every seller, for orders) that has a
// webhook and is not paused, following registry changes (a new webhook, a
// rotated secret, a pause) as they happen, until ctx ends. It also tells
// on-call of circuits that open and close, one event at a time.
func (r *Pusher) Run(ctx context.Context) error {
	running := map[string]*pusher{}
	defer func() {
		for id := range running {
			stopPusher(running, id)
		}
	}()
	for {
		changed := r.reg.Changes()
		r.reconcilePushers(ctx, r.pcfg, running)
		for {
			select {
			case <-changed:
			case e := <-r.events:
				r.opsEvent(ctx, e.typ, e.id, e.data)
				continue
			case <-ctx.Done():
				return nil
			}
			break
		}
	}
}

func (r *Pusher) reconcilePushers(ctx context.Context, cfg PushConfig, running map[string]*pusher) {
	want := map[string]relay.Destination{}
	for _, ep := range r.dir.Endpoints() {
		if ep.Webhook != nil && !ep.Paused {
			want[ep.ID] = ep
		}
	}
	for id, p := range running {
		if ep, ok := want[id]; !ok || r.pushVersion(ep) != p.version {
			stopPusher(running, id)
			if ok {
				r.unpin(ctx, ep)
			}
		}
	}
	for id, ep := range want {
		if running[id] == nil {
			r.startPusher(ctx, cfg, running, ep)
		}
	}
}

// pushVersion changes when a pusher must restart: a new webhook, secret or
// hub, or a new callback policy.
func (r *Pusher) pushVersion(ep relay.Destination) string {
	b, _ := json.Marshal(ep.Webhook)
	return string(b) + " " + r.pushPolicy(ep).String()
}

// pushPolicy: hubs are the tenant's own targets, a webhook the admin's.
func (r *Pusher) pushPolicy(ep relay.Destination) registry.CallbackPolicy {
	return r.dir.CallbackPolicy(ep, ep.Webhook.Format == relay.FormatTMF)
}

func stopPusher(running map[string]*pusher, id string) {
	p := running[id]
	p.cancel()
	<-p.done
	delete(running, id)
}

// unpin gives up the pin of a pusher being replaced (a changed webhook,
// hub or callback allowance): its successor has a new consumer handle,
// which JetStream would otherwise keep waiting for RELAY_FAILOVER_AFTER.
func (r *Pusher) unpin(ctx context.Context, ep relay.Destination) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := r.js.Stream(ctx, ep.Stream)
	if err == nil {
		err = s.UnpinConsumer(ctx, ep.ID, store.RelayGroup)
	}
	if err != nil {
		r.log.Debug().Err(err).Str("consumer", ep.ID).Msg("unpin of a replaced pusher failed; the new one waits for the pin to expire")
	}
}

// startPusher runs one endpoint's delivery as a part of its own: a pusher
// that fails is restarted with backoff and named by Ready meanwhile, and
// never stops the relay (the other endpoints keep their deliveries).
func (r *Pusher) startPusher(ctx context.Context, cfg PushConfig, running map[string]*pusher, ep relay.Destination) {
	sink, err := cfg.NewSink(*ep.Webhook, r.pushPolicy(ep))
	if err != nil {
		r.log.Error().Err(err).Str("consumer", ep.ID).Msg("webhook not started")
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	done := r.start(ctx, "push "+ep.ID, func(ctx context.Context) error {
		return r.push(ctx, cfg, ep, sink)
	})
	running[ep.ID] = &pusher{version: r.pushVersion(ep), cancel: cancel, done: done}
}

// push runs one endpoint's dispatcher until ctx ends or the endpoint is
// gone (then it is paused and the registry change stops it).
func (r *Pusher) push(ctx context.Context, cfg PushConfig, ep relay.Destination, sink relay.Sink) error {
	// A handle of its own, not the pull API's shared one: it carries the
	// pin JetStream gives this relay, which a plain pull must not send.
	cons, err := r.js.Consumer(ctx, ep.Stream, ep.ID)
	if err != nil {
		return fmt.Errorf("open consumer %s: %w", ep.ID, store.Classify(err))
	}
	concurrency := ep.Webhook.Concurrency
	if concurrency == 0 {
		concurrency = cfg.Concurrency
	}
	d := delivery.NewDispatcher(delivery.DispatchConfig{
		Concurrency: concurrency, Backoff: cfg.Backoff, AckWait: r.cfg.AckWait,
		BreakerThreshold: cfg.BreakerThreshold, BreakerCooldown: cfg.BreakerCooldown,
		Dead: func(ctx context.Context, m relay.Message, reason string) error {
			r.receipts.Note(relay.Receipt{Stream: ep.Stream, Consumer: ep.ID, Seq: m.Seq, EventID: m.ID, Type: m.Type,
				State: m.State(), Action: relay.ActionRejected, Reason: reason, Time: time.Now().UTC(), Key: m.Key})
			return r.deadLetter(ctx, dlq.Origin{Stream: ep.Stream, Consumer: ep.ID, Seq: m.Seq, Subject: m.Subject}, m.Body, m.Attempt, reason)
		},
		Gone:   func(ctx context.Context, err error) { r.webhookGone(ctx, ep, err) },
		Report: func(st delivery.DeliveryStatus) { r.reportDelivery(ep.ID, st) },
		Gates:  delivery.KVGates{Kv: r.gates, Reseller: ep.ID},
		Log:    r.log.With().Str("consumer", ep.ID).Str("component", "webhook").Logger(),
	}, r.receipts.Sink(sink, ep), &delivery.GroupSource{Cons: cons, Group: store.RelayGroup})
	if err := d.Run(ctx); !errors.Is(err, relay.ErrGone) {
		return err
	}
	return nil
}

// webhookGone pauses an endpoint that answered 410: its events keep
// accumulating until an admin resumes it.
func (r *Pusher) webhookGone(ctx context.Context, ep relay.Destination, cause error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	r.opsEvent(ctx, relay.OpsWebhookGone, ep.ID, map[string]any{"error": cause.Error()})
	if err := r.pause(ctx, ep, "webhook answered 410 Gone"); err != nil {
		r.log.Error().Err(err).Str("consumer", ep.ID).Msg("pause after 410 failed")
	}
}

// reportDelivery keeps the endpoint's status for GET /v1/resellers/{id}
// and queues an operational event when its circuit opens or closes (Run
// sends it: a report never waits for the store).
func (r *Pusher) reportDelivery(id string, st delivery.DeliveryStatus) {
	switch r.statuses.set(id, st) {
	case delivery.CircuitOpen:
		r.log.Warn().Str("reseller_id", id).Str("error", st.LastError).Msg("webhook circuit opened")
		r.queueEvent(opsEvent{relay.OpsCircuitOpened, id, map[string]any{"error": st.LastError, "consecutive_failures": st.ConsecutiveFailures}})
	case delivery.CircuitClosed:
		r.log.Info().Str("reseller_id", id).Msg("webhook circuit closed")
		r.queueEvent(opsEvent{relay.OpsCircuitClosed, id, nil})
	}
}

// queueEvent queues an ops event for Run; a full queue drops it (the log
// line above is kept).
func (r *Pusher) queueEvent(e opsEvent) {
	select {
	case r.events <- e:
	default:
	}
}

// WebhookStatus returns the delivery status of a reseller's webhook as
// this relay sees it, if it pushes to it.
func (r *Pusher) WebhookStatus(id string) (delivery.DeliveryStatus, bool) {
	return r.statuses.get(id)
}
