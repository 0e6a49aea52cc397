package ingest

import (
	"testing"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// FuzzDedupeKey: a record stored before seller scoping and the same event
// stored now have one dedupe key; events and orders never share one; no
// input panics.
func FuzzDedupeKey(f *testing.F) {
	f.Add("sell-1", "res-a", "7")
	f.Add("s", "r", "a:b")
	f.Add("s.x", "", "")
	f.Fuzz(func(t *testing.T, seller, reseller, id string) {
		ev, ord := "events."+seller+".acc.i", "orders."+seller+"."+reseller+".acc.i"
		oldEv, newEv := legacyRecord(ev, id, id), legacyRecord(ev, id, eventMsgID(seller, id))
		oldOrd, newOrd := legacyRecord(ord, id, reseller+":"+id), legacyRecord(ord, id, orderMsgID(seller, reseller, id))
		if events.NameProblem(seller) != "" || events.NameProblem(reseller) != "" || events.TokenProblem(id) != "" {
			_ = dedupeKey(oldEv) // only: no panic
			_ = dedupeKey(oldOrd)
			return
		}
		if dedupeKey(oldEv) != dedupeKey(newEv) || dedupeKey(oldOrd) != dedupeKey(newOrd) {
			t.Fatalf("legacy keys %q %q, scoped %q %q", dedupeKey(oldEv), dedupeKey(oldOrd), dedupeKey(newEv), dedupeKey(newOrd))
		}
		if dedupeKey(newEv) == dedupeKey(newOrd) {
			t.Fatalf("event and order share key %q", dedupeKey(newEv))
		}
	})
}

func legacyRecord(subject, id, msgID string) Record {
	h := nats.Header{}
	h.Set(jetstream.MsgIDHeader, msgID)
	h.Set(relay.HeaderEventID, id)
	h.Set(relay.HeaderType, events.TypeServiceStateChanged)
	return Record{Subject: subject, MsgID: msgID, Header: h, Body: []byte(`{"id":"` + id + `"}`)}
}
