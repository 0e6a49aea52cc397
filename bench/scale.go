package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/billrelay/billrelay/relay"
)

// Shape is one scale configuration: resellers, two per account, and the
// distinct items the events are spread over.
type Shape struct {
	Resellers, Items int
}

func (s Shape) String() string { return fmt.Sprintf("%d resellers / %d items", s.Resellers, s.Items) }

// scaleClients posts batches of 100 during the scale cases, and as many
// workers drain the resellers' consumers.
const scaleClients = 64

// scaleCase runs one shape on a fresh relay: registration, ingest of n
// events in batches of 100 spread over every item, routing (from the first
// request until every copy is stored), delivery of every copy to its two
// resellers by HTTP pull, memory after GC, and the time a restart takes
// (provisioning, gates, the dedupe window). Delivery starts once routing
// is done, so that each figure is its own stage's: pulled while the router
// still works, the two share the machine and JetStream's disk (see the
// README on consumer state writes).
func scaleCase(ctx context.Context, dir string, cfg Config, sh Shape, n int) ([]Row, error) {
	env, err := startRelay(ctx, dir, cfg)
	if err != nil {
		return nil, err
	}
	defer func() { env.close() }()
	t0 := time.Now()
	if err := env.registerShape(ctx, sh); err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	registered := time.Since(t0)
	name := "scale " + sh.String()
	t1 := time.Now()
	in, err := env.ingestShape(ctx, sh, n)
	if err != nil {
		return nil, err
	}
	in.Case = name + ": ingest, batches of 100"
	if err := env.waitRouted(ctx); err != nil {
		return nil, err
	}
	routing := time.Since(t1)
	route := Row{Case: name + ": routing, first request to every copy stored", Clients: scaleClients, Events: int64(n),
		Seconds: routing.Seconds(), PerSecond: float64(n) / routing.Seconds(), Note: fmt.Sprintf("%d copies", 2*n)}
	out, err := env.drain(ctx, sh, 2*int64(n))
	if err != nil {
		return nil, err
	}
	out.Case = name + ": delivery of the routed copies by HTTP pull+ack (deliveries)"
	heap, rss := memory()
	if cfg.HeapProfile != "" {
		if err := writeHeapProfile(cfg.HeapProfile); err != nil {
			return nil, err
		}
	}
	env.close()
	t2 := time.Now()
	env, err = openRelay(ctx, dir, cfg)
	if err != nil {
		return nil, fmt.Errorf("restart: %w", err)
	}
	startup := time.Since(t2)
	in.Note = fmt.Sprintf("registration %s", registered.Round(time.Millisecond))
	out.Note = fmt.Sprintf("heap after GC %d MiB, RSS %d MiB; restart to ready %s",
		heap>>20, rss>>20, startup.Round(time.Millisecond))
	return []Row{in, route, out}, nil
}

// registerShape registers the shape's resellers, two on each account.
func (e *relayEnv) registerShape(ctx context.Context, sh Shape) error {
	for i := range sh.Resellers {
		id := fmt.Sprintf("res-%04d", i)
		spec := relay.ResellerSpec{ID: id, Seller: "sell-1", Accounts: []string{accountOf(i / 2)}}
		_, cred, err := e.r.Registry().RegisterReseller(ctx, spec)
		if err != nil {
			return err
		}
		e.tokens[id] = cred.Token
	}
	return nil
}

func accountOf(i int) string { return fmt.Sprintf("acc-%04d", i) }

// ingestShape posts n events, event k for item k mod Items, each item on
// account item mod accounts. Every request must be accepted: the delivery
// phase counts on every copy.
func (e *relayEnv) ingestShape(ctx context.Context, sh Shape, n int) (Row, error) {
	accounts := max(1, sh.Resellers/2)
	var next atomic.Int64
	s, elapsed, err := runFor(ctx, scaleClients, drainTimeout, func(ctx context.Context) (int, error) {
		k := int(next.Add(100)) - 100
		if k >= n {
			return 0, errNoMore
		}
		m := min(100, n-k)
		return m, e.post(ctx, shapeBody(k, m, sh.Items, accounts))
	})
	if err != nil {
		return Row{}, fmt.Errorf("ingest: %w", err)
	}
	return s.row("", scaleClients, elapsed), nil
}

var scaleEpoch = time.Now().UTC()

func shapeBody(first, n, items, accounts int) []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	// One time for all: batches race each other, and a later batch with
	// an earlier time would be (rightly) flagged stale.
	now := scaleEpoch.Format(time.RFC3339Nano)
	for k := first; k < first+n; k++ {
		if k > first {
			b.WriteByte(',')
		}
		item := k % items
		fmt.Fprintf(&b, `{"specversion":"1.0","id":"scale-%d","source":"/bench/sell-1","type":"service.state_changed","time":%q,"seller":"sell-1","account":%q,"item":"item-%d","data":{"state":"active","previous_state":"provisioning"}}`,
			k, now, accountOf(item%accounts), item)
	}
	b.WriteByte(']')
	return b.Bytes()
}

// drainTimeout bounds the delivery phase: 1,000 resellers drain 2,000,000
// copies at ~2-3k/s here.
const drainTimeout = 40 * time.Minute

// drain pulls and acks with scaleClients workers taking resellers in
// turn until want deliveries were acked; latency is per pull+ack round.
func (e *relayEnv) drain(ctx context.Context, sh Shape, want int64) (Row, error) {
	ctx, cancel := context.WithTimeout(ctx, drainTimeout)
	defer cancel()
	queue := make(chan string, sh.Resellers)
	for i := range sh.Resellers {
		queue <- fmt.Sprintf("res-%04d", i)
	}
	var got atomic.Int64
	s := &sample{}
	start := time.Now()
	var wg sync.WaitGroup
	for range scaleClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for got.Load() < want && ctx.Err() == nil {
				id := <-queue
				t := time.Now()
				ds, err := e.pullHTTP(ctx, id)
				if err == nil && len(ds) > 0 && e.ackHTTP(ctx, id, ds) == nil {
					s.add(time.Since(t), len(ds))
					got.Add(int64(len(ds)))
				}
				queue <- id
			}
		}()
	}
	wg.Wait()
	if n := got.Load(); n < want {
		return Row{}, fmt.Errorf("delivery: %d of %d copies acked in %s", n, want, drainTimeout)
	}
	return s.row("", scaleClients, time.Since(start)), nil
}

// waitRouted returns once the router has routed everything ingested: its
// input acked up to INGEST's last message (the ack follows the durability
// fence, so this includes up to fenceDelay).
func (e *relayEnv) waitRouted(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, drainTimeout)
	defer cancel()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		st, err1 := e.r.JetStream().Stream(ctx, relay.StreamIngest)
		c, err2 := e.r.JetStream().Consumer(ctx, relay.StreamIngest, "router")
		if err1 == nil && err2 == nil && c.CachedInfo().AckFloor.Stream >= st.CachedInfo().State.LastSeq {
			return nil
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("routing not done after %s: %w", drainTimeout, ctx.Err())
		}
	}
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.WriteHeapProfile(f)
}

// memory is the Go heap in use after a collection (relay and embedded
// server together) and the process's resident set.
func memory() (heap, rss uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			rss = kb << 10
		}
	}
	return ms.HeapInuse, rss
}

// SmallShape is what the scale case holds the large shape against.
var SmallShape = Shape{Resellers: 10, Items: 1000}

// scaleRows runs the small shape, then the large one with the same events,
// and gives each large row its ratio to the small one.
func scaleRows(ctx context.Context, dir string, cfg Config) ([]Row, error) {
	n := cfg.Scale.Items
	small, err := scaleCase(ctx, dir+"/scale-small", cfg, SmallShape, n)
	if err != nil {
		return nil, fmt.Errorf("scale %s: %w", SmallShape, err)
	}
	large, err := scaleCase(ctx, dir+"/scale-large", cfg, cfg.Scale, n)
	if err != nil {
		return small, fmt.Errorf("scale %s: %w", cfg.Scale, err)
	}
	for i := range large {
		large[i].Ratio, large[i].RatioOf = large[i].PerSecond/small[i].PerSecond, SmallShape.String()
	}
	return append(small, large...), nil
}
