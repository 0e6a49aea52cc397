package store

import (
	"testing"

	"github.com/billrelay/billrelay/relay"
)

// TestBudgetFitsTheStore checks that the MaxBytes of every stream and
// bucket add up to no more than the store, whatever the shard count and
// reserve, and that the settle streams get their reserve: JetStream keeps
// room for one stream only when no other can grow past its own limit.
func TestBudgetFitsTheStore(t *testing.T) {
	for _, store := range []int64{relay.MinFileStore, 3 << 20, 16 << 30, 1<<40 + 7} {
		for _, pct := range []int{1, 10, 50} {
			for _, shards := range []int{1, 16, relay.MaxDeliveryShards} {
				cfg := relay.Config{MaxFileStore: store, SettleReservePercent: pct, DeliveryShards: shards}
				cfg.SetDefaults()
				r := &Store{cfg: cfg}
				var sum, settle int64
				for _, sc := range r.baseStreamConfigs() {
					if sc.MaxBytes <= 0 {
						t.Fatalf("%s has no MaxBytes", sc.Name)
					}
					sum += sc.MaxBytes
					if _, ok := settleShares[sc.Name]; ok {
						settle += sc.MaxBytes
					}
				}
				for _, b := range []string{relay.BucketRegistry, relay.BucketOwners, relay.BucketGates, relay.BucketDone} {
					sum += MaxBytes(&cfg, b, 0)
				}
				for k := range shards {
					sum += r.DeliveryConfig(DeliveryStream(k), nil).MaxBytes
				}
				if sum > store {
					t.Fatalf("store %d, reserve %d%%, %d shards: limits add up to %d", store, pct, shards, sum)
				}
				if want := store / 100 * int64(pct); settle < want*99/100 {
					t.Fatalf("store %d, reserve %d%%: settling gets %d, want about %d", store, pct, settle, want)
				}
			}
		}
	}
}
