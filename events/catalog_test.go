package events

import "testing"

func TestRegressive(t *testing.T) {
	tests := []struct {
		name     string
		kind     Kind
		from, to string
		want     bool
	}{
		{"first state", KindService, "", ServiceActive, false},
		{"forward", KindService, ServiceProvisioning, ServiceActive, false},
		{"repeat", KindService, ServiceActive, ServiceActive, false},
		{"active after terminated", KindService, ServiceTerminated, ServiceActive, true},
		{"back to ordered", KindService, ServiceActive, ServiceOrdered, true},
		{"late completion after failure", KindService, ServiceFailed, ServiceActive, false},
		{"order completed then failed", KindOrder, OrderCompleted, OrderFailed, true},
		{"order failed then completed", KindOrder, OrderFailed, OrderCompleted, false},
		{"cancelled then in progress", KindOrder, OrderCancelled, OrderInProgress, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Regressive(tc.kind, tc.from, tc.to); got != tc.want {
				t.Fatalf("Regressive(%s, %s→%s) = %v, want %v", tc.kind, tc.from, tc.to, got, tc.want)
			}
		})
	}
}

func TestVocabularyStatesInCatalog(t *testing.T) {
	for _, m := range Vocabulary {
		if !m.Kind.Valid(m.State) {
			t.Errorf("%s %q maps to %q, not a %s state", m.Platform, m.Term, m.State, m.Kind)
		}
	}
	if m, ok := Lookup(PlatformCloudBlue, KindOrder, "pf"); !ok || m.State != OrderFailed {
		t.Fatalf("Lookup(cloudblue, PF) = %+v, %v", m, ok)
	}
}

func TestDeriveIDStable(t *testing.T) {
	a := DeriveID("cb", "sell-1", "Creation Completed", "OrderItemID=5")
	b := DeriveID("cb", "sell-1", "Creation Completed", "OrderItemID=5")
	c := DeriveID("cb", "sell-1", "Creation Completed", "OrderItemID=6")
	if a != b || a == c || TokenProblem(a) != "" {
		t.Fatalf("ids a=%q b=%q c=%q", a, b, c)
	}
}
