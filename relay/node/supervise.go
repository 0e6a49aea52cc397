package node

import (
	"context"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/billrelay/billrelay/relay"
	"github.com/rs/zerolog"
)

// part is one background loop of the relay (the router, the committer, a
// pusher...). open prepares it and is bounded by its ctx (nil: nothing to
// prepare); run works until ctx ends and returns an error only when the
// part stopped working. A relay that accepts events while its router is
// gone loses availability silently, so no part may stop unnoticed: the
// supervisor restarts it and Ready names it until it runs again.
type part struct {
	name string
	open func(ctx context.Context) error
	run  func(ctx context.Context) error
	// vital parts end the relay (Failed) when they cannot come back after
	// maxRestarts attempts; the others (one tenant's pusher, a tap) keep
	// retrying at the capped backoff, reported by Ready meanwhile.
	vital bool
}

// Restart backoff: doubling from restartMin to restartMax; a run that
// lasted restartMax is a recovery and starts the count again. maxRestarts
// failed attempts in a row (about 5 minutes) give a vital part up.
const (
	restartMin  = 100 * time.Millisecond
	restartMax  = 10 * time.Second
	maxRestarts = 36
)

// supervisor keeps parts running and knows which are down. Every goroutine
// it starts ends when its part's context ends or a vital part gives up.
type supervisor struct {
	log   zerolog.Logger
	after func(time.Duration) <-chan time.Time // time.After; tests fire at once

	mu   sync.Mutex
	down map[string]error

	wg     sync.WaitGroup
	failed chan error // the first vital part that gave up
}

func newSupervisor(log zerolog.Logger) *supervisor {
	return &supervisor{log: log, after: time.After, down: map[string]error{}, failed: make(chan error, 1)}
}

// open opens p under ctx, so that the relay does not start with a part that
// cannot, and then keeps it running under bg.
func (s *supervisor) open(ctx, bg context.Context, p part) error {
	if p.open != nil {
		if err := p.open(ctx); err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
	}
	s.keep(bg, p, p.run)
	return nil
}

// start keeps p running under ctx, opening it first; done closes once it
// has stopped for good.
func (s *supervisor) start(ctx context.Context, p part) (done <-chan struct{}) {
	return s.keep(ctx, p, s.reopen(p))
}

func (s *supervisor) keep(ctx context.Context, p part, first func(context.Context) error) <-chan struct{} {
	done := make(chan struct{})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(done)
		defer s.setDown(p.name, nil) // a stopped part is not a broken one
		s.loop(ctx, p, first)
	}()
	return done
}

// loop runs p, and after each failure waits out the backoff and opens and
// runs it again, until ctx ends or a vital part gives up.
func (s *supervisor) loop(ctx context.Context, p part, run func(context.Context) error) {
	delay, failures := restartMin, 0
	for {
		began := time.Now()
		err := s.safely(ctx, p.name, run)
		if ctx.Err() != nil || err == nil {
			return // closing, or finished its work
		}
		if time.Since(began) >= restartMax {
			delay, failures = restartMin, 0
		}
		failures++
		s.setDown(p.name, err)
		if p.vital && failures > maxRestarts {
			s.log.Error().Str("part", p.name).Err(err).Int("attempts", failures).Msg("background part gave up; the relay stops")
			s.fail(fmt.Errorf("%s: gave up after %d attempts: %w", p.name, failures, err))
			return
		}
		s.log.Error().Str("part", p.name).Err(err).Dur("retry_in", delay).Msg("background part stopped; restarting")
		select {
		case <-s.after(delay):
		case <-ctx.Done():
			return
		}
		delay = min(2*delay, restartMax)
		run = s.reopen(p)
	}
}

// reopen opens p again and runs it, reporting it up once open succeeded.
func (s *supervisor) reopen(p part) func(context.Context) error {
	return func(ctx context.Context) error {
		if p.open != nil {
			if err := p.open(ctx); err != nil {
				return fmt.Errorf("open: %w", err)
			}
		}
		if s.setDown(p.name, nil) {
			s.log.Info().Str("part", p.name).Msg("background part running again")
		}
		return p.run(ctx)
	}
}

// safely runs one attempt, turning a panic into its error.
func (s *supervisor) safely(ctx context.Context, name string, run func(context.Context) error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("panic: %v", v)
			s.log.Error().Str("part", name).Str("stack", string(debug.Stack())).Msg("background part panicked")
		}
	}()
	return run(ctx)
}

// setDown marks a part down with err, or up when err is nil, and reports
// whether it was down before.
func (s *supervisor) setDown(name string, err error) (wasDown bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, wasDown = s.down[name]
	if err == nil {
		delete(s.down, name)
	} else {
		s.down[name] = err
	}
	return wasDown
}

func (s *supervisor) fail(err error) {
	select {
	case s.failed <- err:
	default:
	}
}

// unhealthy names every part that is down, or returns nil.
func (s *supervisor) unhealthy() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.down) == 0 {
		return nil
	}
	e := &relay.DownError{}
	for name, err := range s.down {
		e.Parts = append(e.Parts, name+": "+err.Error())
	}
	slices.Sort(e.Parts)
	return e
}

// wait returns when every part has stopped.
func (s *supervisor) wait() { s.wg.Wait() }
