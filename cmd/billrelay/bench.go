package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/billrelay/billrelay/bench"
	"github.com/rs/zerolog"
)

// benchCommand measures the relay against bare JetStream in one run.
func benchCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dur := fs.Duration("duration", 5*time.Second, "length of each load phase")
	clients := fs.String("clients", "1,16,64,256", "comma-separated concurrent clients per case")
	batch := fs.Int("batch", 100, "events per request in the batch cases")
	sync := fs.String("sync", "always", `fsync policy for relay and reference: "always" or a duration such as 2m`)
	webhooks := fs.String("webhooks", "1,10,100", `reseller counts for the webhook delivery cases ("" skips them)`)
	cases := fs.String("cases", "", "comma-separated cases to run: lazy, ingest, sync, e2e, webhooks (default: these five), scale")
	resellers := fs.Int("scale-resellers", 1000, "resellers of the scale case's large shape (two per account)")
	items := fs.Int("scale-items", 1_000_000, "distinct items of the scale case's large shape, and its events")
	shards := fs.Int("delivery-shards", 1, "the relay's RELAY_DELIVERY_SHARDS in every case")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	heapProfile := fs.String("memprofile", "", "write a heap profile where the scale case measures memory")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *resellers < 2 || *resellers%2 != 0 || *items < 100 {
		fmt.Fprintln(stderr, "billrelay bench: -scale-resellers must be even (two per account) and -scale-items at least 100")
		return 2
	}
	cfg := bench.Config{Duration: *dur, Batch: *batch, Cases: map[string]bool{}, DeliveryShards: *shards,
		Scale: bench.Shape{Resellers: *resellers, Items: *items}, HeapProfile: *heapProfile,
		Log: zerolog.New(stderr).Level(zerolog.InfoLevel).With().Timestamp().Logger()}
	var si syncInterval
	if err := si.Decode(*sync); err != nil {
		fmt.Fprintf(stderr, "billrelay bench: -sync: %v\n", err)
		return 2
	}
	cfg.SyncAlways, cfg.SyncInterval = si.always, si.every
	for _, c := range strings.Split(*cases, ",") {
		if c = strings.TrimSpace(c); c != "" {
			cfg.Cases[c] = true
		}
	}
	var err error
	if cfg.Clients, err = counts(*clients); err != nil || len(cfg.Clients) == 0 {
		fmt.Fprintf(stderr, "billrelay bench: -clients: %v\n", err)
		return 2
	}
	if cfg.Webhooks, err = counts(*webhooks); err != nil {
		fmt.Fprintf(stderr, "billrelay bench: -webhooks: %v\n", err)
		return 2
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "billrelay bench: %v\n", err)
			return 1
		}
		defer f.Close()
		_ = pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	rows, err := bench.Run(ctx, cfg)
	if len(rows) > 0 {
		defer bench.Print(stdout, rows)
	}
	if err != nil {
		fmt.Fprintf(stderr, "billrelay bench: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "fsync: %s, %s per phase, %d delivery shards\n\n", *sync, *dur, *shards)
	return 0
}

// counts reads a comma-separated list of positive numbers.
func counts(s string) ([]int, error) {
	var out []int
	for _, c := range strings.Split(s, ",") {
		if strings.TrimSpace(c) == "" {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive number", c)
		}
		out = append(out, n)
	}
	return out, nil
}
