package events

import (
	"strings"
	"testing"
)

// BenchmarkDecodeBatch measures the ingest parser on a batch of 100
// events, the shape the ingest benchmark sends.
func BenchmarkDecodeBatch(b *testing.B) {
	one := strings.ReplaceAll(goodEvent, "\n", "")
	body := []byte("[" + strings.Repeat(one+",", 99) + one + "]")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Decode(body, received); err != nil {
			b.Fatal(err)
		}
	}
}
