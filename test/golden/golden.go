// Package golden runs golden-file tests for the platform adapters: each
// testdata/<dir>/<case>.in.<ext> is mapped, and the result compared with
// <case>.out.json. "go test ./adapters/... -update" rewrites the outputs
// after a deliberate mapping change (review the diff before committing).
package golden

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden outputs")

// Run maps every input file in dir with f and compares the indented JSON
// of what f returns with the golden output. f's error, if any, is part of
// the output (as {"error": "..."}), so that refusals are golden too.
func Run(t *testing.T, dir string, f func(t *testing.T, name string, in []byte) (any, error)) {
	t.Helper()
	ins, err := filepath.Glob(filepath.Join(dir, "*.in.*"))
	if err != nil || len(ins) == 0 {
		t.Fatalf("no golden inputs in %s: %v", dir, err)
	}
	for _, in := range ins {
		name := strings.SplitN(filepath.Base(in), ".in.", 2)[0]
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			got, ferr := f(t, name, b)
			if ferr != nil {
				got = map[string]string{"error": ferr.Error()}
			}
			out, err := json.MarshalIndent(got, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, '\n')
			path := filepath.Join(dir, name+".out.json")
			if *update {
				if err := os.WriteFile(path, out, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("no golden output (run with -update to create it): %v", err)
			}
			if !bytes.Equal(out, want) {
				t.Fatalf("%s differs from %s:\n--- got\n%s\n--- want\n%s", name, path, out, want)
			}
		})
	}
}
