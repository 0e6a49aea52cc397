package ops

import (
	"context"
	"slices"
	"testing"

	"github.com/billrelay/billrelay/relay"
)

// TestAuditNamesTheActorAndListsTheLatest: an entry is stored with the
// actor of its context ("relay" when nobody is named, the entry's own
// when it names one) and Latest gives the last ones, oldest first.
func TestAuditNamesTheActorAndListsTheLatest(t *testing.T) {
	d := newDesk(t)
	ctx := testContext(t)
	d.trail.Note(ctx, relay.AuditEntry{Action: "first", Target: "x"})
	d.trail.Note(WithActor(ctx, "alice"), relay.AuditEntry{Action: "second", Target: "y"})
	if err := d.trail.record(WithActor(ctx, "alice"), relay.AuditEntry{Action: "third", Target: "z", Actor: "bob"}); err != nil {
		t.Fatal(err)
	}
	want := []string{"second y by alice", "third z by bob"}
	if got := d.auditActions(t)[1:]; !slices.Equal(got, want) {
		t.Fatalf("audit trail %q, want %q after the first", got, want)
	}
	latest, err := d.trail.Audit(ctx, 1)
	if err != nil || len(latest) != 1 || latest[0].Action != "third" || latest[0].Time.IsZero() {
		t.Fatalf("Latest(1) = %+v, %v", latest, err)
	}
	if got := d.auditActions(t)[0]; got != "first x by relay" {
		t.Fatalf("an entry without actor: %q", got)
	}
}

// TestAuditRecordReportsAFailure: the caller that must know (an override)
// hears that its entry was not stored.
func TestAuditRecordReportsAFailure(t *testing.T) {
	d := newDesk(t)
	ctx, cancel := context.WithCancel(testContext(t))
	cancel()
	if err := d.trail.record(ctx, relay.AuditEntry{Action: "lost"}); err == nil {
		t.Fatal("Record on a cancelled context reported success")
	}
}

// TestOpsEventsListsTheLatest: operational events come back as stored,
// oldest first, bounded by the limit.
func TestOpsEventsListsTheLatest(t *testing.T) {
	d := newDesk(t)
	ctx := testContext(t)
	d.trail.OpsEvent(ctx, relay.OpsCircuitOpened, "res-a", map[string]any{"error": "refused"})
	d.trail.OpsEvent(ctx, relay.OpsCircuitClosed, "res-a", nil)
	d.trail.OpsEvent(ctx, relay.OpsDeadLettered, "res-b", map[string]any{"seq": 7})
	got, err := d.trail.OpsEvents(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Type != relay.OpsCircuitClosed || got[1].Type != relay.OpsDeadLettered || got[1].Reseller != "res-b" || got[1].Data["seq"] != float64(7) {
		t.Fatalf("Latest(2) = %+v", got)
	}
}
