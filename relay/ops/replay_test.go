package ops

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
)

// replayWorld stores four events of acc-1: items 1 and 3 go to res-a,
// item 2 to res-b, item 4 to both.
func replayWorld(t *testing.T) *desk {
	d := newDesk(t)
	for _, it := range []string{"item-1", "item-3"} {
		d.owners.to[key(it)] = []string{"res-a"}
	}
	d.owners.to[key("item-2")] = []string{"res-b"}
	d.owners.to[key("item-4")] = []string{"res-a", "res-b"}
	d.storeEvent(t, key("item-1"), "e1", events.TypeServiceStateChanged, events.ServiceActive)
	d.storeEvent(t, key("item-2"), "e2", events.TypeServiceStateChanged, events.ServiceActive)
	d.storeEvent(t, key("item-3"), "e3", events.TypeProvisioningFailed, events.ServiceFailed)
	d.storeEvent(t, key("item-4"), "e4", events.TypeServiceStateChanged, events.ServiceSuspended)
	return d
}

// TestReplayCopiesOnlyTheResellersEvents: a replay sends the reseller a
// marked copy of each matching event it receives, none of another's; a
// dry run counts without sending; the replay waits on the fence and is
// audited.
func TestReplayCopiesOnlyTheResellersEvents(t *testing.T) {
	d := replayWorld(t)
	ctx := testContext(t)
	dry, err := d.Replay(ctx, "res-a", ReplayRequest{DryRun: true}, nil)
	if err != nil || dry != (ReplayResult{Matched: 3}) || len(d.delivered(t, "res-a")) != 0 || d.fences != 0 {
		t.Fatalf("dry run = %+v %v, %d copies, %d fences", dry, err, len(d.delivered(t, "res-a")), d.fences)
	}
	var progress []int
	res, err := d.Replay(ctx, "res-a", ReplayRequest{}, func(n int) { progress = append(progress, n) })
	if err != nil || res != (ReplayResult{Matched: 3, Replayed: 3}) || !slices.Equal(progress, []int{3}) || d.fences != 1 {
		t.Fatalf("replay = %+v %v, progress %v, %d fences", res, err, progress, d.fences)
	}
	var ids []string
	for _, m := range d.delivered(t, "res-a") {
		if m.Header.Get(relay.HeaderReplay) != "true" {
			t.Fatalf("copy %s not marked as a replay", m.Subject)
		}
		ids = append(ids, m.Header.Get(relay.HeaderEventID))
	}
	if !slices.Equal(ids, []string{"e1", "e3", "e4"}) || len(d.delivered(t, "res-b")) != 0 {
		t.Fatalf("res-a got %v, res-b %d copies", ids, len(d.delivered(t, "res-b")))
	}
	if got := d.auditActions(t); !slices.Equal(got, []string{"replay res-a by relay"}) {
		t.Fatalf("audit %q", got)
	}
}

// TestReplayFilters: items, types and a start sequence narrow the replay.
func TestReplayFilters(t *testing.T) {
	d := replayWorld(t)
	ctx := testContext(t)
	for name, c := range map[string]struct {
		q    ReplayRequest
		want int
	}{
		"items":    {ReplayRequest{Items: []string{"item-3", "item-2"}, DryRun: true}, 1},
		"types":    {ReplayRequest{Types: []string{events.TypeServiceStateChanged}, DryRun: true}, 2},
		"from_seq": {ReplayRequest{FromSeq: 3, DryRun: true}, 2},
		"until":    {ReplayRequest{Until: ptr(time.Now().Add(-time.Hour)), DryRun: true}, 0},
	} {
		res, err := d.Replay(ctx, "res-a", c.q, nil)
		if err != nil || res.Matched != c.want {
			t.Errorf("%s: %+v %v, want %d matched", name, res, err, c.want)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// TestReplayRefusesBadRequests: each problem names its field; an unknown
// reseller is not found.
func TestReplayRefusesBadRequests(t *testing.T) {
	d := newDesk(t)
	ctx := testContext(t)
	now := time.Now()
	q := ReplayRequest{Since: &now, Until: ptr(now.Add(-time.Minute)), FromSeq: 4, Items: []string{"ok", "bad item"}, Types: []string{"nope"}}
	_, err := d.Replay(ctx, "res-a", q, nil)
	if got, want := fieldsOf(err), []string{"from_seq", "items[1]", "types[0]", "until"}; !slices.Equal(got, want) {
		t.Fatalf("error %v names %q, want %q", err, got, want)
	}
	if _, err := d.Replay(ctx, "res-x", ReplayRequest{}, nil); !errors.Is(err, events.ErrNotFound) {
		t.Fatalf("unknown reseller: %v", err)
	}
}
