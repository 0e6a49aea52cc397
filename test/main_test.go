// Package test holds billrelay's end-to-end and fault tests. They build and
// run the real binary (and real nats-server processes) on random ports, with
// simulated sellers and resellers speaking HTTP to it.
package test

import (
	"fmt"
	"os"
	"testing"

	"github.com/billrelay/billrelay/test/harness"
	"github.com/billrelay/billrelay/test/sinktest"
)

func TestMain(m *testing.M) {
	sinktest.CommandHelper() // exits when this process is a command receiver
	dir, err := harness.Build()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
