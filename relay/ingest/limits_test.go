package ingest

import (
	"testing"
	"time"
)

// TestTokenBucketsRefillPerReseller spends one reseller's bucket, checks
// that the other's is untouched, that the refusal says when the next
// order passes, and that it does pass then.
func TestTokenBucketsRefillPerReseller(t *testing.T) {
	b := newTokenBuckets(2, 4) // 2 per second, 4 at once
	t0 := time.Unix(1_000_000, 0)
	if _, ok := b.take("res-a", 4, t0); !ok {
		t.Fatal("a full bucket refused its burst")
	}
	after, ok := b.take("res-a", 1, t0)
	if ok || after != 500*time.Millisecond {
		t.Fatalf("empty bucket: %v %v, want refused for 500ms", after, ok)
	}
	if _, ok := b.take("res-b", 4, t0); !ok {
		t.Fatal("res-b paid for res-a")
	}
	if _, ok := b.take("res-a", 1, t0.Add(after)); !ok {
		t.Fatal("refused at the time the refusal named")
	}
	if _, ok := b.take("res-a", 5, t0.Add(time.Hour)); ok {
		t.Fatal("a bucket grew past its burst")
	}
}
