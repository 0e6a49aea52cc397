package route

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/ingest"
	"github.com/billrelay/billrelay/relay/metrics"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// fakeRecipients answers the router's registry questions from maps: the
// resellers of each item and the stream of each reseller.
type fakeRecipients struct {
	recipients map[string][]string // item → resellers
	streams    map[string]string   // reseller → delivery stream (default DELIVERY)
}

func (f *fakeRecipients) Recipients(k events.Key) []string { return f.recipients[k.Item] }

func (f *fakeRecipients) Reseller(id string) (relay.Reseller, error) {
	return relay.Reseller{ID: id, Stream: f.streams[id]}, nil
}

// eventRecord is an event as ingest stores it in EVENTS.
func eventRecord(seller, account, item, id, state string, at time.Time) ingest.Record {
	k := events.Key{Seller: seller, Account: account, Item: item}
	h := nats.Header{}
	h.Set(relay.HeaderType, events.TypeServiceStateChanged)
	h.Set(relay.HeaderTime, at.UTC().Format(time.RFC3339Nano))
	h.Set(relay.HeaderEventID, id)
	ingest.SetDataHeaders(h, events.TypeServiceStateChanged, events.Data{State: state, StateKind: events.KindService})
	return ingest.Record{Subject: events.EventSubject(k), MsgID: seller + ":" + id, Header: h, Body: fmt.Appendf(nil, `{"id":%q}`, id)}
}

// TestCopiesOf: each event gets one copy per recipient, on that
// reseller's subject and stream, carrying the event's bytes, its EVENTS
// sequence, when it was stored and the guard's flags, under a message id
// per reseller and event; an event without an item is skipped.
func TestCopiesOf(t *testing.T) {
	reg := &fakeRecipients{
		recipients: map[string][]string{"i1": {"res-a", "res-b"}, "i2": {"res-b"}},
		streams:    map[string]string{"res-b": "DELIVERY_01"},
	}
	m := metrics.New()
	rt := New(Config{Metrics: m, Dir: reg})
	at := time.Unix(2000, 0)
	evs := []stored{
		{rec: eventRecord("s", "acc", "i1", "e1", "terminated", time.Unix(1000, 0)), seq: 10, at: at},
		{rec: eventRecord("s", "acc", "i2", "e2", "active", time.Unix(1000, 0)), seq: 11, at: at},
		{rec: eventRecord("s", "acc", "i1", "e3", "active", time.Unix(1001, 0)), seq: 12, at: at},
		{rec: ingest.Record{Subject: "events.s.acc", Header: nats.Header{}}, seq: 13, at: at},
	}
	keys := []events.Key{{Seller: "s", Account: "acc", Item: "i1"}, {Seller: "s", Account: "acc", Item: "i2"}, {Seller: "s", Account: "acc", Item: "i1"}, {}}
	groups := rt.copiesOf(evs, keys)

	var got []string
	for stream, i := range groups.idx {
		for _, c := range groups.parts[i] {
			got = append(got, fmt.Sprintf("%s %s %s seq=%s flags=%s", stream, c.Subject, c.Header.Get(jetstream.MsgIDHeader),
				c.Header.Get(relay.HeaderEventSeq), c.Header.Get(relay.HeaderFlags)))
		}
	}
	slices.Sort(got)
	want := []string{
		"DELIVERY deliver.res-a.s.acc.i1 res-a:s:e1 seq=10 flags=",
		"DELIVERY deliver.res-a.s.acc.i1 res-a:s:e3 seq=12 flags=regressive",
		"DELIVERY_01 deliver.res-b.s.acc.i1 res-b:s:e1 seq=10 flags=",
		"DELIVERY_01 deliver.res-b.s.acc.i1 res-b:s:e3 seq=12 flags=regressive",
		"DELIVERY_01 deliver.res-b.s.acc.i2 res-b:s:e2 seq=11 flags=",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("copies:\n%s\nwant:\n%s", join(got), join(want))
	}
	c := groups.parts[groups.idx["DELIVERY"]][0]
	if string(c.Data) != `{"id":"e1"}` || c.Header.Get(relay.HeaderEventID) != "e1" || c.Header.Get(relay.HeaderStored) != fmt.Sprint(at.UnixNano()) ||
		c.Header.Get(relay.HeaderState) != "terminated" {
		t.Errorf("copy of e1: data %s, header %v", c.Data, c.Header)
	}
	if n := counted(t, m, "billrelay_router_copies_total", ""); n != 5 {
		t.Errorf("copies counted %v, want 5", n)
	}
	if n := counted(t, m, "billrelay_transitions_flagged_total", FlagRegressive); n != 1 {
		t.Errorf("regressive counted %v, want 1", n)
	}
}

// counted reads counter name (with any label of value label, if given)
// from the relay's registry.
func counted(t *testing.T, m *metrics.Metrics, name, label string) float64 {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, x := range f.GetMetric() {
			for _, l := range x.GetLabel() {
				if l.GetValue() == label {
					sum += x.GetCounter().GetValue()
				}
			}
			if label == "" {
				sum += x.GetCounter().GetValue()
			}
		}
	}
	return sum
}

func join(s []string) string {
	out := ""
	for _, l := range s {
		out += "  " + l + "\n"
	}
	return out
}

// TestAckFloor: acks that come out of order hold above the floor until
// the gap below them closes; a gap that never closes is passed.
func TestAckFloor(t *testing.T) {
	f := newAckFloor()
	f.reset(3)
	for _, seq := range []uint64{2, 5, 6} {
		f.acked(seq)
	}
	if f.seq != 3 {
		t.Fatalf("floor %d after acks of 2, 5, 6 over 3, want 3", f.seq)
	}
	f.acked(4)
	if f.seq != 6 || len(f.above) != 0 {
		t.Fatalf("floor %d (%d above) after the gap closed, want 6 (0)", f.seq, len(f.above))
	}
	for seq := uint64(8); seq <= 8+maxFloorGap; seq++ {
		f.acked(seq)
	}
	if f.seq != 8+maxFloorGap {
		t.Fatalf("floor %d after a gap at 7 that never closes, want %d", f.seq, 8+maxFloorGap)
	}
}

// TestAckFence: an envelope is handed back for its ack only once its
// fence has passed, in the order routed.
func TestAckFence(t *testing.T) {
	f := &ackFence{delay: 500 * time.Millisecond}
	t0 := time.Unix(1000, 0)
	a, b := &fakeMsg{seq: 1}, &fakeMsg{seq: 2}
	f.add(a, t0)
	f.add(b, t0.Add(100*time.Millisecond))
	if got := f.ripe(t0.Add(499 * time.Millisecond)); len(got) != 0 {
		t.Fatalf("ripe before the fence: %d", len(got))
	}
	if got := f.ripe(t0.Add(500 * time.Millisecond)); len(got) != 1 || got[0] != a {
		t.Fatalf("ripe at the first fence: %v", got)
	}
	if got := f.ripe(t0.Add(time.Second)); len(got) != 1 || got[0] != b {
		t.Fatalf("ripe at the second fence: %v", got)
	}
}

// fakeMsg is an envelope handed out by JetStream; only its identity and
// size matter here.
type fakeMsg struct {
	jetstream.Msg
	seq  uint64
	data []byte
}

func (m *fakeMsg) Data() []byte { return m.data }

// TestDrain: a batch takes what is waiting, up to its count and size.
func TestDrain(t *testing.T) {
	in := make(chan jetstream.Msg, 8)
	for i := range 5 {
		in <- &fakeMsg{seq: uint64(i + 2), data: make([]byte, 100)}
	}
	if got := drain(in, &fakeMsg{seq: 1, data: make([]byte, 100)}, 3, 1<<20); len(got) != 3 {
		t.Fatalf("batch of %d, want 3 (count bound)", len(got))
	}
	if got := drain(in, &fakeMsg{seq: 9, data: make([]byte, 100)}, 64, 150); len(got) != 2 {
		t.Fatalf("batch of %d, want 2 (size bound)", len(got))
	}
	if got := drain(in, &fakeMsg{seq: 10}, 64, 1<<20); len(got) != 3 {
		t.Fatalf("batch of %d, want 3 (what was waiting)", len(got))
	}
}
