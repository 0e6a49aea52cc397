package events

import (
	"os"
	"strings"
	"testing"
)

// TestReadmeMappingTable keeps the README's state mapping equal to
// Vocabulary: every row of the code is in the README, in this form.
func TestReadmeMappingTable(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatalf("read README: %v", err)
	}
	readme := string(b)
	for _, m := range Vocabulary {
		row := "| " + m.Platform + " | " + m.Term + " | " + string(m.Kind) + " | " + m.State + " |"
		if !strings.Contains(readme, row) {
			t.Errorf("README lacks mapping row %q", row)
		}
	}
	for _, typ := range Types {
		if !strings.Contains(readme, "| `"+typ+"` |") {
			t.Errorf("README catalog lacks type %s", typ)
		}
	}
}
