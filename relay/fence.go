package relay

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

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
func (r *Relay) derivedLazy() bool { return r.cfg.localJetStream() && r.cfg.SyncAlways }

// syncIntervalOf is the embedded server's periodic fsync: the derived
// streams' when every write of the others is fsynced, else the operator's.
func syncIntervalOf(cfg Config) time.Duration {
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

// ripe returns the last envelope whose fence has passed (acking it acks all
// before it: the router's consumer is AckAll) and forgets those.
func (f *ackFence) ripe(now time.Time) jetstream.Msg {
	n := 0
	for n < len(f.pending) && !f.pending[n].due.After(now) {
		n++
	}
	if n == 0 {
		return nil
	}
	last := f.pending[n-1].msg
	f.pending = append(f.pending[:0], f.pending[n:]...)
	return last
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

// rewind routes again the envelopes of the last rewindWindow up to the
// router's acknowledged floor: after an unclean stop, their derived copies
// may not have reached the disk. Repeats are dropped by message id.
func (r *Relay) rewind(ctx context.Context) error {
	floor, at, err := r.routedFloor(ctx)
	if err != nil || floor == 0 {
		return err
	}
	start := at.Add(-rewindWindow)
	oc, err := r.js.OrderedConsumer(ctx, StreamIngest, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &start,
	})
	if err != nil {
		return classify(err)
	}
	n := 0
	for {
		m, err := oc.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			return fmt.Errorf("rewind: read envelope: %w", classify(err))
		}
		md, err := m.Metadata()
		if err != nil || md.Sequence.Stream > floor {
			break
		}
		if !r.routeEnvelopes(ctx, []jetstream.Msg{m}) {
			return ctx.Err()
		}
		n++
		if md.Sequence.Stream == floor {
			break
		}
	}
	r.log.Warn().Int("envelopes", n).Time("since", start).Msg("previous run did not stop cleanly; routed the last envelopes again")
	return nil
}

// routedFloor is the last envelope the router acknowledged, and when it
// was stored; zero when there is none.
func (r *Relay) routedFloor(ctx context.Context) (uint64, time.Time, error) {
	c, err := r.js.Consumer(ctx, StreamIngest, routerConsumer)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return 0, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, classify(err)
	}
	floor := c.CachedInfo().AckFloor.Stream
	if floor == 0 {
		return 0, time.Time{}, nil
	}
	s, err := r.js.Stream(ctx, StreamIngest)
	if err != nil {
		return 0, time.Time{}, classify(err)
	}
	m, err := s.GetMsg(ctx, floor)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, time.Time{}, nil // aged out: nothing recent to rewind
	}
	if err != nil {
		return 0, time.Time{}, classify(err)
	}
	return floor, m.Time, nil
}
