package ops

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/ingest"
	"github.com/nats-io/nats.go"
)

// fakeIngest is the ingest path: the message is the event's JSON, and a
// record whose id was stored before is a duplicate, as ingest's dedupe
// makes it.
type fakeIngest struct {
	mu     sync.Mutex
	seen   map[string]bool
	stored []events.Event
}

func (f *fakeIngest) EventMsg(p relay.Principal, e *events.Event) (*nats.Msg, error) {
	if p.Role != relay.RoleSeller || p.ID != e.Seller {
		return nil, events.Invalid("seller", "not the principal's")
	}
	m := nats.NewMsg(events.EventSubject(e.Key()))
	m.Data, _ = json.Marshal(e)
	m.Header.Set(relay.HeaderEventID, e.ID)
	return m, nil
}

func (f *fakeIngest) Store(_ context.Context, recs []ingest.Record) ([]relay.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]relay.Result, 0, len(recs))
	for _, rec := range recs {
		id := rec.Header.Get(relay.HeaderEventID)
		st := relay.StatusAccepted
		if f.seen[id] {
			st = relay.StatusDuplicate
		} else {
			var e events.Event
			_ = json.Unmarshal(rec.Body, &e)
			f.stored = append(f.stored, e)
		}
		f.seen[id] = true
		out = append(out, relay.Result{ID: id, Status: st})
	}
	return out, nil
}

const creationParams = "GateID=4;IssuedSuccessfully=1;Message=Done by hand;OrderItemID=77;SubscrID=1000012"

func creationOverride() Override {
	return Override{Seller: "sell-1", Account: "acc-1", Item: "1000012", Event: json.RawMessage(`"Creation Completed"`),
		Params: creationParams, Actor: "alice", Reason: "INC-4711"}
}

// TestOverrideStoresTheEventItStandsFor: a CloudBlue override is stored
// through ingest as ops.override with what it applies, under the id the
// CloudBlue adapter gives the genuine event (so either one arriving second
// is a duplicate), and is in the audit trail with its actor and reason.
func TestOverrideStoresTheEventItStandsFor(t *testing.T) {
	d := newDesk(t)
	ctx := testContext(t)
	id, res, err := d.PublishOverride(ctx, creationOverride())
	if err != nil || res.Status != relay.StatusAccepted {
		t.Fatalf("Publish = %s %+v %v", id, res, err)
	}
	p, _ := events.ParseParams(creationParams)
	if want := events.CloudBlueID("sell-1", "acc-1", "Creation Completed", p, "1000012", ""); id != want {
		t.Fatalf("override id %s, want the genuine event's %s", id, want)
	}
	e := d.ingest.stored[0]
	var data map[string]any
	_ = json.Unmarshal(e.Data, &data)
	if e.Type != events.TypeOpsOverride || data["applies"] != events.TypeProvisioningCompleted || data["state"] != events.ServiceActive || data["actor"] != "alice" {
		t.Fatalf("stored %+v with data %v", e, data)
	}
	if _, again, err := d.PublishOverride(ctx, creationOverride()); err != nil || again.Status != relay.StatusDuplicate {
		t.Fatalf("the same override again: %+v %v", again, err)
	}
	entries, err := d.trail.Audit(ctx, 10)
	if err != nil || len(entries) != 2 || entries[0].Action != "override" || entries[0].Actor != "alice" || entries[0].Reason != "INC-4711" || entries[0].EventID != id {
		t.Fatalf("audit %+v %v", entries, err)
	}
}

// TestOverrideRefusesWhatItCannotCheck: each problem names its field, and
// nothing is stored.
func TestOverrideRefusesWhatItCannotCheck(t *testing.T) {
	d := newDesk(t)
	cases := map[string]struct {
		change func(*Override)
		fields []string
	}{
		"no actor nor reason": {func(o *Override) { o.Actor, o.Reason = " ", "" }, []string{"actor", "reason"}},
		"unknown seller":      {func(o *Override) { o.Seller = "sell-9" }, []string{"seller"}},
		"unknown event":       {func(o *Override) { o.Event = json.RawMessage(`"Teleport Completed"`) }, []string{"event"}},
		"no event":            {func(o *Override) { o.Event = nil }, []string{"event"}},
		"event without type":  {func(o *Override) { o.Event = json.RawMessage(`{"data":{}}`) }, []string{"event"}},
		"bad params":          {func(o *Override) { o.Params = "GateID" }, []string{"params"}},
		"oversized reason":    {func(o *Override) { o.Reason = strings.Repeat("r", maxOverrideReason+1) }, []string{"reason"}},
		"oversized event":     {func(o *Override) { o.Event = json.RawMessage(`"` + strings.Repeat("e", maxOverrideEvent) + `"`) }, []string{"event"}},
	}
	for name, c := range cases {
		o := creationOverride()
		c.change(&o)
		_, _, err := d.PublishOverride(testContext(t), o)
		if got := fieldsOf(err); !slices.Equal(got, c.fields) {
			t.Errorf("%s: error %v names %q, want %q", name, err, got, c.fields)
		}
	}
	if len(d.ingest.stored) != 0 {
		t.Fatalf("refused overrides were stored: %+v", d.ingest.stored)
	}
}

// FuzzOverride: whatever an admin sends, the override is refused with
// named fields or becomes a valid event; it never panics.
func FuzzOverride(f *testing.F) {
	f.Add(`"Creation Completed"`, creationParams, "alice", "INC-1", "")
	f.Add(`{"type":"service.state_changed","data":{"state":"active"}}`, "", "bob", "fix", "id-1")
	f.Add(`{"id":"evt-9","type":"x"}`, "", "a", "r", "")
	f.Add(`[1,2]`, "a=b;c", "", "", "")
	f.Add(`"Creation Completed"`, "GateID=4;;=;OrderItemID=", "a", "r", "")
	v := &Ops{dir: newFakeDir()}
	f.Fuzz(func(t *testing.T, event, params, actor, reason, id string) {
		o := Override{Seller: "sell-1", Account: "acc-1", Item: "item-1", Event: json.RawMessage(event), Params: params, Actor: actor, Reason: reason, ID: id}
		e, err := v.overrideEvent(o)
		if err != nil {
			if len(fieldsOf(err)) == 0 {
				t.Fatalf("refusal without fields: %v", err)
			}
			return
		}
		if verr := e.Validate(); verr != nil || e.Type != events.TypeOpsOverride {
			t.Fatalf("accepted an invalid override: %+v %v", e, verr)
		}
	})
}
