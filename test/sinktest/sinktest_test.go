package sinktest_test

import (
	"testing"

	"github.com/billrelay/billrelay/test/sinktest"
)

// TestDirectSinkConformance runs the suite on its own in-memory source
// with a sink that is its own receiver: every case, no NATS, no network.
// It checks the suite itself; the sinks of the relay and the agent run it
// in test/sinks_test.go.
func TestDirectSinkConformance(t *testing.T) {
	sinktest.Run(t, func(t *testing.T) sinktest.Target {
		sink, rec := sinktest.DirectReceiver()
		return sinktest.Target{Sink: sink, Receiver: rec, Features: sinktest.Features{Gone: true, RetryAfter: true}}
	})
}
