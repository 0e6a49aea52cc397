package node

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/billrelay/billrelay/relay"
	"github.com/rs/zerolog"
)

// fakeTimers hands the supervisor's backoff waits to the test: each wait
// is announced on waits with its duration and ends when the test fires it.
type fakeTimers struct {
	waits chan time.Duration
	fire  chan time.Time
}

func newFakeTimers() *fakeTimers {
	return &fakeTimers{waits: make(chan time.Duration, 100), fire: make(chan time.Time)}
}

func (f *fakeTimers) after(d time.Duration) <-chan time.Time {
	f.waits <- d
	return f.fire
}

// immediate timers record each wait and end it at once.
func immediate(waits chan time.Duration) func(time.Duration) <-chan time.Time {
	return func(d time.Duration) <-chan time.Time {
		waits <- d
		c := make(chan time.Time, 1)
		c <- time.Time{}
		return c
	}
}

// TestSupervisorRestartsAFailingPart: a part that fails twice and then
// runs is reported down by name after each failure, up while it runs
// again, restarted after a doubling backoff, and stopped by its context.
func TestSupervisorRestartsAFailingPart(t *testing.T) {
	s := newSupervisor(zerolog.Nop())
	ft := newFakeTimers()
	s.after = ft.after
	runs, results := make(chan int), make(chan error)
	n := 0
	run := func(ctx context.Context) error {
		n++
		runs <- n
		select {
		case err := <-results:
			return err
		case <-ctx.Done():
			return nil
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := s.open(ctx, ctx, part{name: "router", run: run, vital: true}); err != nil {
		t.Fatal(err)
	}
	for i, want := range []time.Duration{restartMin, 2 * restartMin} {
		<-runs
		if err := s.unhealthy(); err != nil {
			t.Fatalf("run %d: running part reported down: %v", i+1, err)
		}
		results <- errors.New("consumer deleted")
		if got := <-ft.waits; got != want {
			t.Fatalf("backoff after failure %d: %s, want %s", i+1, got, want)
		}
		err := s.unhealthy()
		var down *relay.DownError
		if !errors.As(err, &down) || len(down.Parts) != 1 || down.Parts[0] != "router: consumer deleted" {
			t.Fatalf("after failure %d: Ready %v, want the router named with its error", i+1, err)
		}
		ft.fire <- time.Now()
	}
	if got := <-runs; got != 3 {
		t.Fatalf("run %d, want the third", got)
	}
	if err := s.unhealthy(); err != nil {
		t.Fatalf("part runs again but Ready says %v", err)
	}
	cancel()
	s.wait()
	if err := s.unhealthy(); err != nil {
		t.Fatalf("a stopped part is still reported: %v", err)
	}
}

// TestSupervisorGivesUpAVitalPart: a vital part that never comes back is
// retried on a backoff that doubles up to restartMax, then given up: Failed
// says so and its goroutine ends.
func TestSupervisorGivesUpAVitalPart(t *testing.T) {
	s := newSupervisor(zerolog.Nop())
	waits := make(chan time.Duration, 2*maxRestarts)
	s.after = immediate(waits)
	attempts := 0
	always := func(context.Context) error { attempts++; return errors.New("stream gone") }
	if err := s.open(context.Background(), context.Background(), part{name: "committer", run: always, vital: true}); err != nil {
		t.Fatal(err)
	}
	err := <-s.failed
	if !strings.Contains(err.Error(), "committer") || !strings.Contains(err.Error(), "stream gone") {
		t.Fatalf("Failed: %v, want the part and its error named", err)
	}
	s.wait()
	close(waits)
	want := restartMin
	for d := range waits {
		if d != want {
			t.Fatalf("backoff %s, want %s", d, want)
		}
		want = min(2*want, restartMax)
	}
	if want != restartMax || attempts != maxRestarts+1 {
		t.Fatalf("%d attempts, backoff reached %s; want %d attempts capped at %s", attempts, want, maxRestarts+1, restartMax)
	}
}

// TestSupervisorKeepsRetryingAPusher: a part that is not vital (one
// tenant's pusher) is retried past the bound, reported down meanwhile, and
// ends with its context; a panic counts as a failure.
func TestSupervisorKeepsRetryingAPusher(t *testing.T) {
	s := newSupervisor(zerolog.Nop())
	waits := make(chan time.Duration, 1000)
	s.after = immediate(waits)
	ctx, cancel := context.WithCancel(context.Background())
	attempts := 0
	run := func(context.Context) error {
		attempts++
		if attempts == 3*maxRestarts {
			cancel()
		}
		panic("nil map")
	}
	<-s.start(ctx, part{name: "push res-a", run: run})
	s.wait()
	if attempts != 3*maxRestarts || len(s.failed) != 0 {
		t.Fatalf("%d attempts, failed %d; want %d attempts and no failure", attempts, len(s.failed), 3*maxRestarts)
	}
	close(waits)
	for d := range waits {
		if d > restartMax {
			t.Fatalf("backoff %s beyond %s", d, restartMax)
		}
	}
}

// TestSupervisorReportsAFailedOpen: a restart whose open fails keeps the
// part down; a cancel during the backoff ends it.
func TestSupervisorReportsAFailedOpen(t *testing.T) {
	s := newSupervisor(zerolog.Nop())
	ft := newFakeTimers()
	s.after = ft.after
	opens := 0
	open := func(context.Context) error {
		if opens++; opens > 1 {
			return errors.New("max waiting can not be updated")
		}
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.open(ctx, ctx, part{name: "router", open: open, run: func(context.Context) error { return errors.New("consumer deleted") }}); err != nil {
		t.Fatal(err)
	}
	<-ft.waits
	ft.fire <- time.Now()
	<-ft.waits
	if err := s.unhealthy(); err == nil || !strings.Contains(err.Error(), "router: open: max waiting") {
		t.Fatalf("Ready %v, want the router's failed open", err)
	}
	cancel()
	s.wait()
}
