package core

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/store"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sys/unix"
)

// The durability fence of the derived streams.
//
// INGEST is written with an fsync before every acknowledgement: that is the
// promise behind a 202. EVENTS, ORDERS and DELIVERY are only ever derived
// from INGEST by the router, so on the embedded server (R1, sync always)
// they use JetStream's async persist mode: written without a flush or fsync
// of their own, and fsynced by the store every derivedSyncInterval. An
// fsync per derived message would cap the relay at the disk's ~5k
// appends/s; atomic batches cost ~3 ms and five device flushes each.
//
// The router makes that safe by acknowledging an envelope only fenceDelay
// after everything derived from it was stored, time for several periodic
// fsyncs to cover it, so that an unacknowledged envelope is what a crash
// or power failure can lose copies of, and the router routes it again
// (message ids make the repeats harmless). For a disk that stalls longer
// than the fence, the relay also marks its data directory while it runs;
// after a stop that was not clean, the router re-routes the last
// rewindWindow of envelopes before its acknowledged floor.
//
// On an external NATS (a cluster) the derived streams keep the server's
// own policy: R3 fsyncs its raft log per append batch, group-committing by
// itself.
const (
	derivedSyncInterval = 100 * time.Millisecond
	fenceDelay          = 5 * derivedSyncInterval
	rewindWindow        = 30 * time.Second
	dirtyMarker         = "RUNNING"
)

// derivedLazy reports whether the derived streams are async-persisted
// behind the fence: only on the embedded server with fsync always.
func (r *Relay) derivedLazy() bool { return r.cfg.LocalJetStream() && r.cfg.SyncAlways }

// lazySubject reports whether subject belongs to a derived stream that is
// async-persisted behind the fence.
func (r *Relay) lazySubject(subject string) bool {
	if !r.derivedLazy() {
		return false
	}
	prefix, _, _ := strings.Cut(subject, ".")
	return prefix == events.EventsPrefix || prefix == events.DeliverPrefix || prefix == events.OrdersPrefix
}

// awaitFence returns once what was stored to the derived streams before
// the call has been fsynced: ops actions that write copies directly
// (replay, reconciliation snapshots) answer only after it, since the
// rewind after a crash rebuilds routed copies but not theirs.
func (r *Relay) awaitFence(ctx context.Context) error {
	if !r.derivedLazy() {
		return nil
	}
	select {
	case <-time.After(fenceDelay):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// syncIntervalOf is the embedded server's periodic fsync: the derived
// streams' when every write of the others is fsynced, else the operator's.
func syncIntervalOf(cfg relay.Config) time.Duration {
	if cfg.SyncAlways {
		return derivedSyncInterval
	}
	return cfg.SyncInterval
}

// ackFence holds routed envelopes until their fence has passed.
type ackFence struct {
	delay   time.Duration
	pending []fenced
}

type fenced struct {
	msg jetstream.Msg
	due time.Time
}

func (f *ackFence) add(m jetstream.Msg, now time.Time) {
	f.pending = append(f.pending, fenced{msg: m, due: now.Add(f.delay)})
}

// ripe returns the envelopes whose fence has passed and forgets them.
func (f *ackFence) ripe(now time.Time) []jetstream.Msg {
	n := 0
	for n < len(f.pending) && !f.pending[n].due.After(now) {
		n++
	}
	out := make([]jetstream.Msg, n)
	for i := range n {
		out[i] = f.pending[i].msg
	}
	f.pending = append(f.pending[:0], f.pending[n:]...)
	return out
}

// markRunning records that the relay is running on its data directory and
// reports whether the previous run ended without a clean stop.
func (r *Relay) markRunning() (unclean bool, err error) {
	path := filepath.Join(r.cfg.DataDir, dirtyMarker)
	_, statErr := os.Stat(path)
	unclean = statErr == nil
	if err := os.WriteFile(path, []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o600); err != nil {
		return unclean, fmt.Errorf("mark data directory in use: %w", err)
	}
	return unclean, syncDir(r.cfg.DataDir)
}

// markStopped runs after the embedded server stopped: it flushes the whole
// file system under the data directory (the store's close writes without
// an fsync) and only then clears the marker.
func (r *Relay) markStopped() error {
	d, err := os.Open(r.cfg.DataDir)
	if err != nil {
		return fmt.Errorf("open data directory: %w", err)
	}
	defer d.Close()
	if err := unix.Syncfs(int(d.Fd())); err != nil {
		return fmt.Errorf("sync data directory: %w", err)
	}
	if err := os.Remove(filepath.Join(r.cfg.DataDir, dirtyMarker)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("clear running marker: %w", err)
	}
	return syncDir(r.cfg.DataDir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// rewind routes again, after an unclean stop, the envelopes from
// rewindWindow before the router's acknowledged floor to the last one
// stored: those before the floor may have lost derived copies that never
// reached the disk, and those after it were handed to the router before
// the stop and would otherwise wait out their ack wait. Repeats are
// dropped by message id; later redeliveries are routed (and dropped) again.
func (r *Relay) rewind(ctx context.Context) error {
	floor, at, err := r.routedFloor(ctx)
	if err != nil {
		return err
	}
	s, err := r.js.Stream(ctx, relay.StreamIngest)
	if err != nil {
		return store.Classify(err)
	}
	last := s.CachedInfo().State.LastSeq
	if last == 0 || last < floor {
		return nil
	}
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: floor + 1}
	if floor > 0 {
		start := at.Add(-rewindWindow)
		cfg = jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &start}
	}
	n, err := r.routeRange(ctx, cfg, last)
	r.log.Warn().Int("envelopes", n).Uint64("floor", floor).Uint64("last", last).
		Msg("previous run did not stop cleanly; routed the last envelopes again")
	return err
}

// routeRange routes the envelopes an ordered consumer reads, up to last.
func (r *Relay) routeRange(ctx context.Context, cfg jetstream.OrderedConsumerConfig, last uint64) (int, error) {
	oc, err := r.js.OrderedConsumer(ctx, relay.StreamIngest, cfg)
	if err != nil {
		return 0, store.Classify(err)
	}
	n := 0
	var stopped error
	err = store.Scan(ctx, oc, 5*time.Second, func(m jetstream.Msg, md *jetstream.MsgMetadata) bool {
		if md.Sequence.Stream > last {
			return false
		}
		if !r.routeEnvelopes(ctx, []jetstream.Msg{m}) {
			stopped = ctx.Err()
			return false
		}
		n++
		return md.Sequence.Stream < last
	})
	if err != nil {
		return n, fmt.Errorf("rewind: read envelopes: %w", err)
	}
	return n, stopped
}

// routedFloor is the last envelope the router acknowledged, and when it
// was stored; zero when there is none.
func (r *Relay) routedFloor(ctx context.Context) (uint64, time.Time, error) {
	c, err := r.js.Consumer(ctx, relay.StreamIngest, routerConsumer)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return 0, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, store.Classify(err)
	}
	floor := c.CachedInfo().AckFloor.Stream
	if floor == 0 {
		return 0, time.Time{}, nil
	}
	s, err := r.js.Stream(ctx, relay.StreamIngest)
	if err != nil {
		return 0, time.Time{}, store.Classify(err)
	}
	m, err := s.GetMsg(ctx, floor)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, time.Time{}, nil // aged out: nothing recent to rewind
	}
	if err != nil {
		return 0, time.Time{}, store.Classify(err)
	}
	return floor, m.Time, nil
}
