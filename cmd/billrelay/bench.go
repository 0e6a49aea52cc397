package main

import (
	"context"
	"flag"
	"fmt"
	"io"
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
	clients := fs.String("clients", "1,16,64", "comma-separated concurrent clients per case")
	batch := fs.Int("batch", 100, "events per request in the batch cases")
	sync := fs.String("sync", "always", `fsync policy for relay and reference: "always" or a duration such as 2m`)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg := bench.Config{Duration: *dur, Batch: *batch, Log: zerolog.New(stderr).With().Timestamp().Logger()}
	var si syncInterval
	if err := si.Decode(*sync); err != nil {
		fmt.Fprintf(stderr, "billrelay bench: -sync: %v\n", err)
		return 2
	}
	cfg.SyncAlways, cfg.SyncInterval = si.always, si.every
	for _, c := range strings.Split(*clients, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n < 1 {
			fmt.Fprintf(stderr, "billrelay bench: -clients: %q is not a positive number\n", c)
			return 2
		}
		cfg.Clients = append(cfg.Clients, n)
	}
	rows, err := bench.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "billrelay bench: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "fsync: %s, %s per phase\n\n", *sync, *dur)
	bench.Print(stdout, rows)
	return 0
}
