package relay

import (
	"context"
	"fmt"
	"time"
)

// pauseForever is how far ahead a pause is set: JetStream pauses until a
// time, the relay until resumed.
const pauseForever = 100 * 365 * 24 * time.Hour

// Pause stops delivery to a reseller (pull, webhook and agent alike) until
// Resume. Events keep being routed to it and accumulate; nothing is dropped.
func (r *Relay) Pause(ctx context.Context, id, reason string) error {
	if _, err := r.Reseller(id); err != nil {
		return err
	}
	if _, err := r.js.PauseConsumer(ctx, StreamDelivery, id, time.Now().Add(pauseForever)); err != nil {
		return fmt.Errorf("pause consumer %q: %w", id, classify(err))
	}
	if _, err := r.updateReseller(ctx, id, func(rs *Reseller) error {
		rs.Paused, rs.PauseReason = true, reason
		return nil
	}); err != nil {
		return fmt.Errorf("pause reseller %q: %w", id, err)
	}
	r.log.Warn().Str("reseller_id", id).Str("reason", reason).Msg("reseller paused")
	r.opsEvent(ctx, OpsResellerPaused, id, map[string]any{"reason": reason})
	return nil
}

// Resume restarts delivery to a reseller from where it stopped.
func (r *Relay) Resume(ctx context.Context, id string) error {
	if _, err := r.Reseller(id); err != nil {
		return err
	}
	if _, err := r.js.ResumeConsumer(ctx, StreamDelivery, id); err != nil {
		return fmt.Errorf("resume consumer %q: %w", id, classify(err))
	}
	if _, err := r.updateReseller(ctx, id, func(rs *Reseller) error {
		rs.Paused, rs.PauseReason = false, ""
		return nil
	}); err != nil {
		return fmt.Errorf("resume reseller %q: %w", id, err)
	}
	r.log.Info().Str("reseller_id", id).Msg("reseller resumed")
	r.opsEvent(ctx, OpsResellerResumed, id, nil)
	return nil
}
