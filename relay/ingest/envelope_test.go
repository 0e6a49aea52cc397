package ingest

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
	recs := []Record{
		{Subject: "events.s.a.i", MsgID: "e1", Header: h, Body: []byte(`{"id":"e1"}`)},
		{Subject: "orders.s.r.a.i", MsgID: "r:e2", Header: nats.Header{}, Body: []byte(`{}`)},
	}
	got, err := DecodeEnvelope(EncodeEnvelope(recs))
	if err != nil || len(got) != 2 || got[0].Subject != "events.s.a.i" || got[0].MsgID != "e1" ||
		got[0].Header.Get(relay.HeaderType) != "service.state_changed" || got[0].Header.Get(jetstream.MsgIDHeader) != "" ||
		!bytes.Equal(got[1].Body, []byte(`{}`)) || got[1].MsgID != "r:e2" {
		t.Fatalf("%+v, %v", got, err)
	}
	if m := got[0].Msg(); m.Header.Get(jetstream.MsgIDHeader) != "e1" {
		t.Fatalf("message id lost: %v", m.Header)
	}
}

// FuzzDecodeEnvelope: no input panics the decoder, and what decodes
// re-encodes to a form that decodes the same.
func FuzzDecodeEnvelope(f *testing.F) {
	f.Add(EncodeEnvelope([]Record{{Subject: "events.s.a.i", MsgID: "e", Header: nats.Header{"K": {"v"}}, Body: []byte("{}")}}))
	f.Add([]byte{1, 200, 1})
	f.Add([]byte{2})
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := DecodeEnvelope(b)
		if err != nil {
			return
		}
		again, err := DecodeEnvelope(EncodeEnvelope(recs))
		if err != nil || len(again) != len(recs) {
			t.Fatalf("re-decode: %d vs %d records, %v", len(again), len(recs), err)
		}
		for i := range recs {
			if again[i].Subject != recs[i].Subject || again[i].MsgID != recs[i].MsgID || !bytes.Equal(again[i].Body, recs[i].Body) {
				t.Fatalf("record %d differs", i)
			}
		}
	})
}
