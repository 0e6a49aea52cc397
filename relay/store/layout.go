package store

import (
	"fmt"
	"slices"

	"github.com/billrelay/billrelay/relay"
)

// DeliveryStream names shard k: DELIVERY for 0, the design's stream, then
// DELIVERY_01 and on.
func DeliveryStream(k int) string {
	if k == 0 {
		return relay.StreamDelivery
	}
	return fmt.Sprintf("%s_%02d", relay.StreamDelivery, k)
}

func SameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
