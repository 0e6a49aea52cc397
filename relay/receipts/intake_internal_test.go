package receipts

import (
	"testing"

	"github.com/billrelay/billrelay/relay"
)

// FuzzParseReceipt: whatever a reseller publishes as a receipt, what the
// parser accepts names a delivery, a bounded event id, one of the two
// actions, and a bounded reason only when it rejects.
func FuzzParseReceipt(f *testing.F) {
	for _, seed := range []string{
		`{"seq":7,"event_id":"e-1","action":"applied"}`,
		`{"seq":7,"event_id":"e-1","action":"rejected","reason":"unknown item"}`,
		`{"seq":0,"event_id":"e","action":"applied"}`,
		`{"seq":1,"event_id":"","action":"applied"}`,
		`{"seq":1,"event_id":"e","action":"acked","stream":"DELIVERY","consumer":"res-b"}`,
		`{"seq":-1}`, `not json`, `[]`, `null`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rc, err := parseReceipt(data)
		if err != nil {
			return
		}
		switch {
		case rc.Seq == 0, rc.EventID == "", len(rc.EventID) > 128:
			t.Fatalf("accepted a receipt of no delivery: %+v", rc)
		case rc.Action != relay.ActionApplied && rc.Action != relay.ActionRejected:
			t.Fatalf("accepted action %q", rc.Action)
		case rc.Action == relay.ActionApplied && rc.Reason != "", len(rc.Reason) > 512:
			t.Fatalf("accepted reason %q for %s", rc.Reason, rc.Action)
		}
	})
}
