package core

import (
	"bytes"
	"testing"

	"github.com/billrelay/billrelay/relay"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestEnvelopeRoundTrip(t *testing.T) {
	h := nats.Header{}
	h.Set(relay.HeaderType, "service.state_changed")
	h.Set(jetstream.MsgIDHeader, "e1")
	recs := []record{
		{subject: "events.s.a.i", msgID: "e1", header: h, body: []byte(`{"id":"e1"}`)},
		{subject: "orders.s.r.a.i", msgID: "r:e2", header: nats.Header{}, body: []byte(`{}`)},
	}
	got, err := decodeEnvelope(encodeEnvelope(recs))
	if err != nil || len(got) != 2 || got[0].subject != "events.s.a.i" || got[0].msgID != "e1" ||
		got[0].header.Get(relay.HeaderType) != "service.state_changed" || got[0].header.Get(jetstream.MsgIDHeader) != "" ||
		!bytes.Equal(got[1].body, []byte(`{}`)) || got[1].msgID != "r:e2" {
		t.Fatalf("%+v, %v", got, err)
	}
	if m := got[0].msg(); m.Header.Get(jetstream.MsgIDHeader) != "e1" {
		t.Fatalf("message id lost: %v", m.Header)
	}
}

// FuzzDecodeEnvelope: no input panics the decoder, and what decodes
// re-encodes to a form that decodes the same.
func FuzzDecodeEnvelope(f *testing.F) {
	f.Add(encodeEnvelope([]record{{subject: "events.s.a.i", msgID: "e", header: nats.Header{"K": {"v"}}, body: []byte("{}")}}))
	f.Add([]byte{1, 200, 1})
	f.Add([]byte{2})
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := decodeEnvelope(b)
		if err != nil {
			return
		}
		again, err := decodeEnvelope(encodeEnvelope(recs))
		if err != nil || len(again) != len(recs) {
			t.Fatalf("re-decode: %d vs %d records, %v", len(again), len(recs), err)
		}
		for i := range recs {
			if again[i].subject != recs[i].subject || again[i].msgID != recs[i].msgID || !bytes.Equal(again[i].body, recs[i].body) {
				t.Fatalf("record %d differs", i)
			}
		}
	})
}
