package pull

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestFinalDeliveries runs the final-delivery watch on closures alone: an
// unsettled final delivery is dead-lettered once, a settled one is
// forgotten, and one whose ack timer was restarted (progress) waits again.
func TestFinalDeliveries(t *testing.T) {
	past := time.Now().Add(-time.Second)
	settled := map[uint64]bool{2: true}
	var progressedAt time.Time
	var dead []string
	f := newFinalDeliveries(time.Minute)
	f.settled = func(_, _ string, seq, _ uint64) bool { return settled[seq] }
	f.progressed = func(_, _ string, seq, _ uint64) time.Time {
		if seq == 3 {
			return progressedAt
		}
		return time.Time{}
	}
	f.deadLetter = func(_ context.Context, fd finalDelivery, reason string) error {
		dead = append(dead, fd.reseller+":"+reason)
		return nil
	}
	for seq := uint64(1); seq <= 3; seq++ {
		f.add(finalDelivery{stream: "DELIVERY", reseller: "res-a", seq: seq, attempt: 5, at: past})
	}
	progressedAt = time.Now() // seq 3 was worked on just now
	f.deadLetterRipe(context.Background())
	if len(dead) != 1 || !strings.HasPrefix(dead[0], "res-a:max deliveries reached") {
		t.Fatalf("dead-lettered %q; want only the unsettled one", dead)
	}
	if len(f.due) != 1 {
		t.Fatalf("%d still watched; want the one in progress", len(f.due))
	}
	f.deadLetterRipe(context.Background())
	if len(dead) != 1 {
		t.Fatalf("dead-lettered again: %q", dead)
	}
}
