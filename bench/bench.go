package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/rs/zerolog"
)

// Config chooses what to measure.
type Config struct {
	// Duration of each load phase.
	Duration time.Duration
	// Clients lists the concurrent HTTP clients (or publishers) per case.
	Clients []int
	// Batch is the number of events per request in the batch cases.
	Batch int
	// SyncAlways fsyncs before every acknowledgement (the relay's default);
	// otherwise SyncInterval applies to both the relay and the reference.
	SyncAlways   bool
	SyncInterval time.Duration
	// DeliveryShards is the relay's RELAY_DELIVERY_SHARDS in every case.
	DeliveryShards int
	// Webhooks lists reseller counts for the webhook cases.
	Webhooks []int
	// Scale is the large shape of the "scale" case, measured against
	// SmallShape in the same run with as many events as Scale has items.
	Scale Shape
	// Cases chooses what runs: "lazy", "ingest", "sync", "e2e",
	// "webhooks" (all these when empty), "scale" (only when named).
	Cases map[string]bool
	// HeapProfile, when set, is written where the scale case measures
	// memory (the large shape's overwrites the small one's).
	HeapProfile string
	// Log receives progress lines.
	Log zerolog.Logger
}

// Run measures every case and returns the rows in print order.
func Run(ctx context.Context, cfg Config) ([]Row, error) {
	dir, err := os.MkdirTemp("", "billrelay-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	ref, err := startReference(dir+"/ref", cfg)
	if err != nil {
		return nil, fmt.Errorf("reference jetstream: %w", err)
	}
	defer ref.close()
	var rows []Row
	add := func(r Row, refRow *Row) {
		if refRow != nil && refRow.PerSecond > 0 {
			r.Ratio, r.RatioOf = r.PerSecond/refRow.PerSecond, refRow.Case
		}
		cfg.Log.Info().Str("case", r.Case).Int("clients", r.Clients).Float64("events_per_s", r.PerSecond).Msg("bench case done")
		rows = append(rows, r)
	}
	// scale takes half an hour at its full size: it runs only when asked.
	want := func(c string) bool { return cfg.Cases[c] || (len(cfg.Cases) == 0 && c != "scale") }
	for _, n := range cfg.Webhooks {
		if !want("webhooks") {
			break
		}
		evs := max(100, 10_000/n)
		raw := ref.rawConsume(ctx, n, evs)
		add(raw, nil)
		row, err := webhookCase(ctx, fmt.Sprintf("%s/wh-%d", dir, n), cfg, n, evs)
		if err != nil {
			return rows, fmt.Errorf("webhooks for %d resellers: %w", n, err)
		}
		add(row, &raw)
	}
	if want("scale") {
		scale, err := scaleRows(ctx, dir, cfg)
		for _, r := range scale {
			add(r, nil)
		}
		if err != nil {
			return rows, err
		}
	}
	var lazy Row
	if want("lazy") || want("ingest") {
		if lazy, err = asyncPublish(ctx, dir+"/lazy", cfg.Duration); err != nil {
			return nil, fmt.Errorf("lazy reference: %w", err)
		}
		add(lazy, nil)
	}
	env, err := startRelay(ctx, dir+"/relay", cfg)
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	defer env.close()
	for _, batch := range []int{1, cfg.Batch} {
		for _, c := range cfg.Clients {
			if !want("ingest") {
				continue
			}
			row := env.ingest(ctx, c, batch, cfg.Duration)
			if batch == 1 {
				floor, err := httpFloor(ctx, c, cfg.Duration)
				if err != nil {
					return rows, fmt.Errorf("http floor: %w", err)
				}
				add(floor, &lazy)
				row.Note = fmt.Sprintf("%.2f × the bare net/http handler", row.PerSecond/floor.PerSecond)
			}
			add(row, &lazy)
		}
	}
	for _, c := range cfg.Clients {
		if want("sync") {
			add(ref.publish(ctx, c, 1, cfg.Duration), &lazy)
		}
	}
	if want("e2e") {
		c := cfg.Clients[len(cfg.Clients)-1]
		rawE2E := ref.endToEnd(ctx, c, cfg.Duration)
		add(rawE2E, nil)
		add(env.endToEnd(ctx, c, cfg.Duration), &rawE2E)
	}
	return rows, nil
}

// errNoMore tells runFor that a client has no more work: it stops that
// client only, where any other error stops them all.
var errNoMore = errors.New("no more work")

// runFor calls op from clients goroutines until d passes (or each says
// errNoMore); op returns the number of events it completed.
func runFor(ctx context.Context, clients int, d time.Duration, op func(ctx context.Context) (int, error)) (*sample, time.Duration, error) {
	s := &sample{}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	errc := make(chan error, clients)
	start := time.Now()
	for range clients {
		go func() {
			for ctx.Err() == nil {
				t0 := time.Now()
				n, err := op(ctx)
				if errors.Is(err, errNoMore) {
					break
				}
				if err != nil {
					if ctx.Err() != nil {
						break
					}
					errc <- err
					return
				}
				s.add(time.Since(t0), n)
			}
			errc <- nil
		}()
	}
	var first error
	for range clients {
		if err := <-errc; err != nil && first == nil {
			first = err
			cancel()
		}
	}
	return s, time.Since(start), first
}
