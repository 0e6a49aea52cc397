package push

import (
	"testing"

	"github.com/billrelay/billrelay/relay/delivery"
)

// TestWebhookStatusesReportTransitions: set says when a circuit opened or
// closed, and only then, so that on-call hears of each transition once.
func TestWebhookStatusesReportTransitions(t *testing.T) {
	w := webhookStatuses{m: map[string]delivery.DeliveryStatus{}}
	steps := []struct {
		circuit, want string
	}{
		{delivery.CircuitClosed, ""},
		{delivery.CircuitOpen, delivery.CircuitOpen},
		{delivery.CircuitOpen, ""},
		{delivery.CircuitHalfOpen, ""},
		{delivery.CircuitClosed, delivery.CircuitClosed},
		{delivery.CircuitClosed, ""},
	}
	for i, s := range steps {
		if got := w.set("res-a", delivery.DeliveryStatus{Circuit: s.circuit}); got != s.want {
			t.Fatalf("step %d to %q: moved %q, want %q", i, s.circuit, got, s.want)
		}
	}
	if st, ok := w.get("res-a"); !ok || st.Circuit != delivery.CircuitClosed {
		t.Fatalf("status %+v, %v", st, ok)
	}
	if _, ok := w.get("res-b"); ok {
		t.Fatal("a webhook never pushed to has a status")
	}
}
