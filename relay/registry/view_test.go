package registry

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/billrelay/billrelay/relay"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// entry is a KV entry as the watch hands it over.
type entry struct {
	key string
	val []byte
	rev uint64
	op  jetstream.KeyValueOp
}

func (e entry) Bucket() string                  { return relay.BucketRegistry }
func (e entry) Key() string                     { return e.key }
func (e entry) Value() []byte                   { return e.val }
func (e entry) Revision() uint64                { return e.rev }
func (e entry) Created() time.Time              { return time.Time{} }
func (e entry) Delta() uint64                   { return 0 }
func (e entry) Operation() jetstream.KeyValueOp { return e.op }

func put(rev uint64, key string, rec any) entry {
	b, _ := json.Marshal(rec)
	return entry{key: key, val: b, rev: rev, op: jetstream.KeyValuePut}
}

// TestViewFoldsRecords: sellers and resellers go through one fold that
// keeps the token index and the account routes in step with the records,
// through changes, deletes and unreadable values, and tells the hook of
// every reseller change.
func TestViewFoldsRecords(t *testing.T) {
	v := NewView()
	var heard []string
	v.OnReseller = func(old, cur *relay.Reseller) {
		name := func(r *relay.Reseller) string {
			if r == nil {
				return "-"
			}
			return fmt.Sprint(r.ID, r.Accounts)
		}
		heard = append(heard, name(old)+" => "+name(cur))
	}
	v.Apply(put(1, keySeller+"s1", relay.Seller{ID: "s1", TokenSHA256: "ts1"}), zerolog.Nop())
	v.Apply(put(2, keyReseller+"r1", relay.Reseller{ID: "r1", Seller: "s1", Accounts: []string{"a1", "a2"}, TokenSHA256: "tr1"}), zerolog.Nop())
	v.Apply(put(3, keyReseller+"r0", relay.Reseller{ID: "r0", Seller: "s1", Accounts: []string{"a2"}, TokenSHA256: "tr0"}), zerolog.Nop())

	if p, ok := v.Principal("ts1"); !ok || p != (relay.Principal{Role: relay.RoleSeller, ID: "s1"}) {
		t.Fatalf("seller token = %+v %v", p, ok)
	}
	if p, ok := v.Principal("tr1"); !ok || p != (relay.Principal{Role: relay.RoleReseller, ID: "r1"}) {
		t.Fatalf("reseller token = %+v %v", p, ok)
	}
	if got := fmt.Sprint(v.Route("s1", "a1"), v.Route("s1", "a2")); got != "[r1] [r0 r1]" {
		t.Fatalf("routes = %s, want [r1] [r0 r1] (sorted)", got)
	}

	// A new token and fewer accounts: the old token and route go.
	v.Apply(put(4, keyReseller+"r1", relay.Reseller{ID: "r1", Seller: "s1", Accounts: []string{"a2"}, TokenSHA256: "tr1b"}), zerolog.Nop())
	if _, ok := v.Principal("tr1"); ok {
		t.Fatal("a replaced token still authenticates")
	}
	if got := fmt.Sprint(v.Route("s1", "a1"), v.Route("s1", "a2")); got != "[] [r0 r1]" {
		t.Fatalf("routes after the change = %s", got)
	}

	// An unreadable record drops the old one rather than keep it stale.
	v.Apply(entry{key: keyReseller + "r0", val: []byte("{"), rev: 5, op: jetstream.KeyValuePut}, zerolog.Nop())
	if _, ok := v.Reseller("r0"); ok || v.Taken("r0") {
		t.Fatal("an unreadable record left its reseller behind")
	}
	if _, ok := v.Principal("tr0"); ok {
		t.Fatal("an unreadable record left its token behind")
	}
	v.Apply(entry{key: keySeller + "s1", rev: 6, op: jetstream.KeyValueDelete}, zerolog.Nop())
	if _, ok := v.Principal("ts1"); ok || v.Taken("s1") {
		t.Fatal("a deleted seller still authenticates")
	}
	v.Apply(entry{key: keyReseller + "r9", rev: 7, op: jetstream.KeyValueDelete}, zerolog.Nop()) // never there: nobody hears of it

	want := []string{"- => r1[a1 a2]", "- => r0[a2]", "r1[a1 a2] => r1[a2]", "r0[a2] => -"}
	if fmt.Sprint(heard) != fmt.Sprint(want) {
		t.Fatalf("hook heard %q, want %q", heard, want)
	}
	if v.rev != 7 {
		t.Fatalf("revision = %d, want 7", v.rev)
	}
	if got := fmt.Sprint(len(v.AllSellers()), " ", len(v.AllResellers()), " ", v.AllResellers()[0].ID); got != "0 1 r1" {
		t.Fatalf("sellers, resellers = %s", got)
	}
}
