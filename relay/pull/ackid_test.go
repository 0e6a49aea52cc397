package pull

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

func testRelay() *Puller { return &Puller{ackKey: []byte("0123456789abcdef0123456789abcdef")} }

func TestAckIDRoundTrip(t *testing.T) {
	r := testRelay()
	at := time.Unix(0, 1795360134149168215)
	for _, reply := range []string{
		"$JS.ACK.DELIVERY.res-a.1.42.7.1795360134149168215.3",
		"$JS.ACK.hub.ACCHASH.DELIVERY.res-a.2.42.7.1795360134149168215.3.xyz",
	} {
		for _, handedOut := range []time.Time{at, {}} {
			d, err := r.openAckID(r.sealAckID(reply, handedOut))
			if err != nil || d.consumer != "res-a" || d.stream != "DELIVERY" || d.streamSeq != 42 || d.reply != reply || !d.handedOut.Equal(handedOut) {
				t.Fatalf("open(seal(%q, %v)) = %+v, %v", reply, handedOut, d, err)
			}
		}
	}
	other := &Puller{ackKey: []byte("another key of thirty-two bytes!")}
	if _, err := other.openAckID(r.sealAckID("$JS.ACK.DELIVERY.res-a.1.42.7.1.3", at)); !errors.Is(err, errNotAckID) {
		t.Fatalf("id sealed with another key opened: %v", err)
	}
}

// TestAckIDHandOutTimeIsSealed: the hand-out time cannot be changed or
// dropped (which would make a late delivery read as fresh, or as one of
// unknown age), and no seal of one form opens the other.
func TestAckIDHandOutTimeIsSealed(t *testing.T) {
	r := testRelay()
	reply := "$JS.ACK.DELIVERY.res-a.1.42.7.1795360134149168215.3"
	id := r.sealAckID(reply, time.Unix(0, 1795360134149168215))
	parts := strings.Split(id, ".")
	later := base64.RawURLEncoding.EncodeToString([]byte{0x18, 0xea, 0xa3, 0x39, 0x7d, 0x5a, 0x3b, 0xff})
	for name, forged := range map[string]string{
		"time moved":        parts[0] + "." + later + "." + parts[2],
		"time dropped":      parts[0] + "." + parts[2],
		"v2 seal as v1":     base64.RawURLEncoding.EncodeToString([]byte(ackIDV2Tag+mustDecode(t, parts[1])+reply)) + "." + parts[2],
		"v1 seal as v2":     parts[0] + "." + parts[1] + "." + strings.Split(r.sealAckID(reply, time.Time{}), ".")[1],
		"a fourth part":     id + "." + parts[2],
		"an empty time":     parts[0] + ".." + parts[2],
		"a time of 7 bytes": parts[0] + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 7)) + "." + parts[2],
	} {
		if _, err := r.openAckID(forged); !errors.Is(err, errNotAckID) {
			t.Errorf("%s: %q opened (%v)", name, forged, err)
		}
	}
}

func mustDecode(t *testing.T, s string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// FuzzOpenAckID checks that any text is either refused or opens to a
// delivery whose id seals back to the same text, in either form.
func FuzzOpenAckID(f *testing.F) {
	r := testRelay()
	f.Add(r.sealAckID("$JS.ACK.DELIVERY.res-a.1.42.7.1795360134149168215.3", time.Unix(0, 1795360134149168215)))
	f.Add(r.sealAckID("$JS.ACK.DELIVERY.res-a.1.42.7.1795360134149168215.3", time.Unix(0, -1)))
	f.Add(r.sealAckID("$JS.ACK.DELIVERY.res-a.1.42.7.1795360134149168215.3", time.Time{}))
	f.Add(r.sealAckID("$JS.ACK.hub.ACCHASH.DELIVERY.res-a.2.42.7.1795360134149168215.3.xyz", time.Unix(1, 0)))
	f.Add("garbage")
	f.Add("a.b")
	f.Add("a.b.c")
	f.Add(".")
	f.Add("..")
	f.Fuzz(func(t *testing.T, id string) {
		d, err := r.openAckID(id)
		if err != nil {
			return
		}
		if r.sealAckID(d.reply, d.handedOut) != id {
			t.Fatalf("opened %q but it seals as %q", id, r.sealAckID(d.reply, d.handedOut))
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
