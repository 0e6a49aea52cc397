package ops

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/store"
)

type actorKey struct{}

// WithActor names who acts in ctx, for the audit trail (the admin API
// takes it from the X-Actor header, or "admin").
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

func actorOf(ctx context.Context) string {
	if a, _ := ctx.Value(actorKey{}).(string); a != "" {
		return a
	}
	return "relay"
}

// record stores an audit entry and reports whether it was stored.
func (r *Trail) record(ctx context.Context, e relay.AuditEntry) error {
	if e.Actor == "" {
		e.Actor = actorOf(ctx)
	}
	e.Time = time.Now().UTC()
	b, _ := json.Marshal(e)
	if _, err := r.js.Publish(ctx, relay.AuditPrefix+"."+e.Action, b); err != nil {
		return fmt.Errorf("record audit entry: %w", store.Classify(err))
	}
	return nil
}

// Note records an entry for an action that already happened; a failure
// is logged with the whole entry, so that it is never lost silently.
func (r *Trail) Note(ctx context.Context, e relay.AuditEntry) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := r.record(ctx, e); err != nil {
		r.log.Error().Err(err).Str("action", e.Action).Str("actor", actorOf(ctx)).Str("target", e.Target).
			Str("reason", e.Reason).Msg("audit entry not stored")
	}
}

// Audit lists the latest audit entries, oldest first.
func (r *Trail) Audit(ctx context.Context, limit int) ([]relay.AuditEntry, error) {
	msgs, err := r.Tail(ctx, relay.StreamAudit, relay.AuditPrefix+".>", limit)
	if err != nil {
		return nil, err
	}
	out := make([]relay.AuditEntry, 0, len(msgs))
	for _, m := range msgs {
		var e relay.AuditEntry
		if json.Unmarshal(m.Data, &e) == nil {
			out = append(out, e)
		}
	}
	return out, nil
}
