package relay

import (
	"errors"
	"testing"
)

func testRelay() *Relay { return &Relay{ackKey: []byte("0123456789abcdef0123456789abcdef")} }

func TestAckIDRoundTrip(t *testing.T) {
	r := testRelay()
	for _, reply := range []string{
		"$JS.ACK.DELIVERY.res-a.1.42.7.1795360134149168215.3",
		"$JS.ACK.hub.ACCHASH.DELIVERY.res-a.2.42.7.1795360134149168215.3.xyz",
	} {
		d, err := r.openAckID(r.sealAckID(reply))
		if err != nil || d.consumer != "res-a" || d.stream != "DELIVERY" || d.streamSeq != 42 || d.reply != reply {
			t.Fatalf("open(seal(%q)) = %+v, %v", reply, d, err)
		}
	}
	other := &Relay{ackKey: []byte("another key of thirty-two bytes!")}
	if _, err := other.openAckID(r.sealAckID("$JS.ACK.DELIVERY.res-a.1.42.7.1.3")); !errors.Is(err, errNotAckID) {
		t.Fatalf("id sealed with another key opened: %v", err)
	}
}

// FuzzOpenAckID checks that any text is either refused or opens to a
// delivery whose id seals back to the same text.
func FuzzOpenAckID(f *testing.F) {
	r := testRelay()
	f.Add(r.sealAckID("$JS.ACK.DELIVERY.res-a.1.42.7.1795360134149168215.3"))
	f.Add("garbage")
	f.Add("a.b")
	f.Add(".")
	f.Fuzz(func(t *testing.T, id string) {
		d, err := r.openAckID(id)
		if err != nil {
			return
		}
		if r.sealAckID(d.reply) != id {
			t.Fatalf("opened %q but it seals as %q", id, r.sealAckID(d.reply))
		}
	})
}

// FuzzParseAckReply checks the reply parser never panics on any subject.
func FuzzParseAckReply(f *testing.F) {
	f.Add("$JS.ACK.DELIVERY.res-a.1.42.7.1795360134149168215.3")
	f.Add("$JS.ACK.a.b.c.d.e.f.g.h.i.j")
	f.Add("$JS.ACK........")
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = parseAckReply(s)
	})
}
