package events

import (
	"errors"
	"testing"
)

func TestSubjectsRoundTrip(t *testing.T) {
	k := Key{Seller: "sell-1", Account: "acc-77", Item: "16643"}
	if got, err := ParseEventSubject(EventSubject(k)); err != nil || got != k {
		t.Fatalf("event subject: got %+v, %v", got, err)
	}
	r, got, err := ParseDeliverSubject(DeliverSubject("res-a", k))
	if err != nil || r != "res-a" || got != k {
		t.Fatalf("deliver subject: got %q %+v, %v", r, got, err)
	}
	r, got, err = ParseOrderSubject(OrderSubject("res-a", k))
	if err != nil || r != "res-a" || got != k {
		t.Fatalf("order subject: got %q %+v, %v", r, got, err)
	}
}

func TestParseSubjectProblems(t *testing.T) {
	for _, s := range []string{"", "events", "events.a.b", "events.a.b.c.d", "deliver.a.b.c", "other.a.b.c", "events.a..c", "events.a.*.c", "events.a.>.c"} {
		if _, err := ParseEventSubject(s); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseEventSubject(%q) = %v, want ErrMalformed", s, err)
		}
	}
}

func TestNameProblem(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"res-a", true}, {"RES_1", true}, {"", false}, {"res/a", false}, {"res.a", false}, {"rés", false},
	}
	for _, tc := range tests {
		if got := NameProblem(tc.in) == ""; got != tc.ok {
			t.Errorf("NameProblem(%q) ok=%v, want %v", tc.in, got, tc.ok)
		}
	}
}

// FuzzParseSubject checks that parsing never panics and that any subject
// that parses is rebuilt exactly from its parts.
func FuzzParseSubject(f *testing.F) {
	f.Add("events.sell-1.acc-77.16643")
	f.Add("deliver.res-a.sell-1.acc-77.16643")
	f.Add("orders.sell-1.res-a.acc-77.16643")
	f.Add("events..a.b")
	f.Add("deliver.a.b.c.d.e")
	f.Fuzz(func(t *testing.T, s string) {
		if k, err := ParseEventSubject(s); err == nil && EventSubject(k) != s {
			t.Fatalf("event subject %q rebuilt as %q", s, EventSubject(k))
		}
		if r, k, err := ParseDeliverSubject(s); err == nil && DeliverSubject(r, k) != s {
			t.Fatalf("deliver subject %q rebuilt as %q", s, DeliverSubject(r, k))
		}
		if r, k, err := ParseOrderSubject(s); err == nil && OrderSubject(r, k) != s {
			t.Fatalf("order subject %q rebuilt as %q", s, OrderSubject(r, k))
		}
	})
}
