package events

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// DeriveID builds a deterministic event id from the upstream identity of a
// notification, so that the same upstream change sent twice (a retry, a
// double "Creation Completed" from two initiators) is one event. prefix
// names the platform; parts are the upstream identity in a fixed order.
func DeriveID(prefix string, parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0x1f})
	}
	return strings.TrimSuffix(prefix, "-") + "-" + hex.EncodeToString(h.Sum(nil)[:16])
}
