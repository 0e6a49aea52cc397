package bench

import (
	"fmt"
	"io"
	"slices"
	"sync"
	"time"
)

// sample collects latencies from many goroutines.
type sample struct {
	mu   sync.Mutex
	lats []time.Duration
	n    int64 // events (a batch request counts its events)
}

func (s *sample) add(d time.Duration, events int) {
	s.mu.Lock()
	s.lats = append(s.lats, d)
	s.n += int64(events)
	s.mu.Unlock()
}

// Row is one measured case.
type Row struct {
	Case      string
	Clients   int
	Events    int64
	Seconds   float64
	PerSecond float64
	P50, P99  time.Duration
	Ratio     float64 // against the reference row named in RatioOf
	RatioOf   string
	Note      string // what else was measured with the case
}

func (s *sample) row(name string, clients int, elapsed time.Duration) Row {
	s.mu.Lock()
	defer s.mu.Unlock()
	slices.Sort(s.lats)
	return Row{Case: name, Clients: clients, Events: s.n, Seconds: elapsed.Seconds(),
		PerSecond: float64(s.n) / elapsed.Seconds(), P50: pct(s.lats, 0.50), P99: pct(s.lats, 0.99)}
}

func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*p))]
}

// Print writes the rows as a Markdown table.
func Print(w io.Writer, rows []Row) {
	fmt.Fprintln(w, "| case | clients | events | events/s | p50 ms | p99 ms | ratio | note |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		ratio := "-"
		if r.RatioOf != "" {
			ratio = fmt.Sprintf("%.2f × %s", r.Ratio, r.RatioOf)
		}
		fmt.Fprintf(w, "| %s | %d | %d | %.0f | %.2f | %.2f | %s | %s |\n", r.Case, r.Clients, r.Events,
			r.PerSecond, ms(r.P50), ms(r.P99), ratio, r.Note)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
