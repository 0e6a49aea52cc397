package ops

import (
	"context"
	"fmt"
	"time"

	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/store"
)

// pauseForever is how far ahead a pause is set: JetStream pauses until a
// time, the relay until resumed.
const pauseForever = 100 * 365 * 24 * time.Hour

// Pause stops delivery to a reseller (pull, webhook and agent alike) until
// Resume. Events keep being routed to it and accumulate; nothing is dropped.
func (r *Ops) Pause(ctx context.Context, id, reason string) error {
	ep, err := r.dir.EndpointOf(relay.RoleReseller, id)
	if err != nil {
		return err
	}
	return r.PauseDestination(ctx, ep, reason)
}

// Resume restarts delivery to a reseller from where it stopped.
func (r *Ops) Resume(ctx context.Context, id string) error {
	ep, err := r.dir.EndpointOf(relay.RoleReseller, id)
	if err != nil {
		return err
	}
	return r.resume(ctx, ep)
}

// ResumeSeller restarts delivery of orders to a seller paused after its
// webhook answered 410.
func (r *Ops) ResumeSeller(ctx context.Context, id string) error {
	ep, err := r.dir.EndpointOf(relay.RoleSeller, id)
	if err != nil {
		return err
	}
	return r.resume(ctx, ep)
}

// PauseDestination stops delivery to ep (a 410 from its webhook, or an
// admin); events keep accumulating.
func (r *Ops) PauseDestination(ctx context.Context, ep relay.Destination, reason string) error {
	if _, err := r.js.PauseConsumer(ctx, ep.Stream, ep.ID, time.Now().Add(pauseForever)); err != nil {
		return fmt.Errorf("pause consumer of %s: %w", ep, store.Classify(err))
	}
	if _, err := r.dir.SetState(ctx, ep, func(_ **relay.Webhook, paused *bool, why *string) { *paused, *why = true, reason }); err != nil {
		return fmt.Errorf("pause %s: %w", ep, err)
	}
	r.log.Warn().Str("consumer", ep.ID).Str("reason", reason).Msg("delivery paused")
	r.trail.OpsEvent(ctx, relay.OpsResellerPaused, ep.ID, map[string]any{"reason": reason})
	r.trail.Note(ctx, relay.AuditEntry{Action: "pause", Target: string(ep.Role) + "/" + ep.ID, Reason: reason})
	return nil
}

func (r *Ops) resume(ctx context.Context, ep relay.Destination) error {
	if _, err := r.js.ResumeConsumer(ctx, ep.Stream, ep.ID); err != nil {
		return fmt.Errorf("resume consumer of %s: %w", ep, store.Classify(err))
	}
	if _, err := r.dir.SetState(ctx, ep, func(_ **relay.Webhook, paused *bool, why *string) { *paused, *why = false, "" }); err != nil {
		return fmt.Errorf("resume %s: %w", ep, err)
	}
	r.log.Info().Str("consumer", ep.ID).Msg("delivery resumed")
	r.trail.OpsEvent(ctx, relay.OpsResellerResumed, ep.ID, nil)
	r.trail.Note(ctx, relay.AuditEntry{Action: "resume", Target: string(ep.Role) + "/" + ep.ID})
	return nil
}
