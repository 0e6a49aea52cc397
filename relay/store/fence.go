package store

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
	"golang.org/x/sys/unix"
)

// The durability fence of the derived streams.
//
// INGEST is written with an fsync before every acknowledgement: that is the
// promise behind a 202. EVENTS, ORDERS and DELIVERY are only ever derived
// from INGEST by the router, so on the embedded server (R1, sync always)
// they use JetStream's async persist mode: written without a flush or fsync
// of their own, and fsynced by the store every DerivedSyncInterval. An
// fsync per derived message would cap the relay at the disk's ~5k
// appends/s; atomic batches cost ~3 ms and five device flushes each.
//
// The router makes that safe by acknowledging an envelope only fenceDelay
// after everything derived from it was stored (FenceDelay), time for several periodic
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
	DerivedSyncInterval = 100 * time.Millisecond
	FenceDelay          = 5 * DerivedSyncInterval
	dirtyMarker         = "RUNNING"
)

// DerivedLazy reports whether the derived streams are async-persisted
// behind the fence: only on the embedded server with fsync always.
func DerivedLazy(cfg relay.Config) bool { return cfg.LocalJetStream() && cfg.SyncAlways }

// LazySubject reports whether subject belongs to a derived stream that is
// async-persisted behind the fence.
func LazySubject(cfg relay.Config, subject string) bool {
	if !DerivedLazy(cfg) {
		return false
	}
	prefix, _, _ := strings.Cut(subject, ".")
	return prefix == events.EventsPrefix || prefix == events.DeliverPrefix || prefix == events.OrdersPrefix
}

// AwaitFence returns once what was stored to the derived streams before
// the call has been fsynced: ops actions that write copies directly
// (replay, reconciliation snapshots) answer only after it, since the
// rewind after a crash rebuilds routed copies but not theirs.
func AwaitFence(ctx context.Context, cfg relay.Config) error {
	if !DerivedLazy(cfg) {
		return nil
	}
	select {
	case <-time.After(FenceDelay):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SyncIntervalOf is the embedded server's periodic fsync: the derived
// streams' when every write of the others is fsynced, else the operator's.
func SyncIntervalOf(cfg relay.Config) time.Duration {
	if cfg.SyncAlways {
		return DerivedSyncInterval
	}
	return cfg.SyncInterval
}

// MarkRunning records that the relay is running on its data directory and
// reports whether the previous run ended without a clean stop.
func MarkRunning(dataDir string) (unclean bool, err error) {
	path := filepath.Join(dataDir, dirtyMarker)
	_, statErr := os.Stat(path)
	unclean = statErr == nil
	if err := os.WriteFile(path, []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o600); err != nil {
		return unclean, fmt.Errorf("mark data directory in use: %w", err)
	}
	return unclean, syncDir(dataDir)
}

// MarkStopped runs after the embedded server stopped: it flushes the whole
// file system under the data directory (the store's close writes without
// an fsync) and only then clears the marker.
func MarkStopped(dataDir string) error {
	d, err := os.Open(dataDir)
	if err != nil {
		return fmt.Errorf("open data directory: %w", err)
	}
	defer d.Close()
	if err := unix.Syncfs(int(d.Fd())); err != nil {
		return fmt.Errorf("sync data directory: %w", err)
	}
	if err := os.Remove(filepath.Join(dataDir, dirtyMarker)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("clear running marker: %w", err)
	}
	return syncDir(dataDir)
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
