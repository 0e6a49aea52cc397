package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/billrelay/billrelay/adapters/httpapi"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/node"
	"github.com/billrelay/billrelay/relay/pull"
)

const adminToken = "bench-admin"

// relayEnv is an in-process relay with its HTTP API on a loopback port,
// driven through real HTTP requests.
type relayEnv struct {
	r       *node.Node
	api     *httpapi.Server
	url     string
	seller  string
	tokens  map[string]string
	client  *http.Client
	nextID  atomic.Int64
	closeFn func()
}

// startRelay opens a relay on a fresh data dir and registers the seller
// and the two resellers of the end-to-end case.
func startRelay(ctx context.Context, dir string, cfg Config) (*relayEnv, error) {
	e, err := openRelay(ctx, dir, cfg)
	if err != nil {
		return nil, err
	}
	if err := e.register(ctx); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

// openRelay opens a relay on dir, registering nothing.
func openRelay(ctx context.Context, dir string, cfg Config) (*relayEnv, error) {
	r, err := node.Open(ctx, relay.Config{DataDir: dir, SyncAlways: cfg.SyncAlways,
		SyncInterval: cfg.SyncInterval, AckWait: time.Minute, DeliveryShards: cfg.DeliveryShards}, cfg.Log)
	if err != nil {
		return nil, err
	}
	api, err := httpapi.New(httpapi.Config{Addr: "127.0.0.1:0", AdminToken: adminToken,
		Ingest: r.Ingest(), Inbox: r.Inbox(), Directory: r.Registry(), Admin: r.Admin(), Health: r, Metrics: r.Metrics()}, cfg.Log)
	if err != nil {
		r.Close()
		return nil, err
	}
	addr, err := api.Listen()
	if err != nil {
		r.Close()
		return nil, err
	}
	go func() { _ = api.Serve() }()
	e := &relayEnv{r: r, api: api, url: "http://" + addr.String(), tokens: map[string]string{},
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024}}}
	e.closeFn = func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = api.Shutdown(sctx)
		r.Close()
	}
	return e, nil
}

func (e *relayEnv) close() { e.closeFn() }

func (e *relayEnv) register(ctx context.Context) error {
	_, tok, err := e.r.Registry().RegisterSeller(ctx, "sell-1")
	if err != nil {
		return err
	}
	e.seller = tok
	for _, id := range []string{"res-a", "res-b"} {
		_, cred, err := e.r.Registry().RegisterReseller(ctx, relay.ResellerSpec{ID: id, Seller: "sell-1", Accounts: []string{"acc-e2e"}})
		if err != nil {
			return err
		}
		e.tokens[id] = cred.Token
	}
	return nil
}

// body builds n events; account acc-e2e reaches both resellers, any other
// account none (pure ingest).
func (e *relayEnv) body(n int, account string) []byte {
	var b bytes.Buffer
	if n > 1 {
		b.WriteByte('[')
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		id := e.nextID.Add(1)
		fmt.Fprintf(&b, `{"specversion":"1.0","id":"bench-%d","source":"/bench/sell-1","type":"service.state_changed","time":%q,"seller":"sell-1","account":%q,"item":"item-%d","data":{"state":"active","previous_state":"provisioning","order":"SO-%d","message":"service is created"}}`,
			id, now, account, id%1000, id)
	}
	if n > 1 {
		b.WriteByte(']')
	}
	return b.Bytes()
}

func (e *relayEnv) post(ctx context.Context, body []byte) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.url+"/v1/events", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.seller)
	resp, err := e.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("ingest answered %d: %s", resp.StatusCode, out)
	}
	return nil
}

func (e *relayEnv) ingest(ctx context.Context, clients, batch int, d time.Duration) Row {
	s, elapsed, err := runFor(ctx, clients, d, func(ctx context.Context) (int, error) {
		return batch, e.post(ctx, e.body(batch, "acc-ingest"))
	})
	name := "relay HTTP ingest, single events"
	if batch > 1 {
		name = fmt.Sprintf("relay HTTP ingest, batches of %d", batch)
	}
	return rowOrError(s.row(name, clients, elapsed), err)
}

// endToEnd publishes single events to the shared account while both
// resellers long-poll and ack; it reports acked deliveries per second and
// the latency from the event's send time to its ack.
func (e *relayEnv) endToEnd(ctx context.Context, clients int, d time.Duration) Row {
	lat := &sample{}
	var produced atomic.Int64
	start := time.Now()
	done := make(chan struct{})
	var wg sync.WaitGroup
	for _, id := range []string{"res-a", "res-b"} {
		wg.Add(1)
		go func() { defer wg.Done(); e.consume(ctx, id, lat, &produced, done) }()
	}
	_, _, err := runFor(ctx, clients, d, func(ctx context.Context) (int, error) {
		if err := e.post(ctx, e.body(1, "acc-e2e")); err != nil {
			return 0, err
		}
		produced.Add(1)
		return 1, nil
	})
	close(done)
	wg.Wait()
	r := lat.row("relay end to end, 2 resellers on one account (deliveries)", clients, time.Since(start))
	return rowOrError(r, err)
}

// consume pulls and acks until every produced event was acked once the
// producers are done (or 60s more pass).
func (e *relayEnv) consume(ctx context.Context, reseller string, lat *sample, produced *atomic.Int64, done <-chan struct{}) {
	var acked int64
	var deadline <-chan time.Time
	for {
		select {
		case <-done:
			if deadline == nil {
				deadline = time.After(60 * time.Second)
			}
			if acked >= produced.Load() {
				return
			}
		case <-deadline:
			return
		default:
		}
		ds, err := e.pullHTTP(ctx, reseller)
		if err != nil || len(ds) == 0 {
			continue
		}
		if e.ackHTTP(ctx, reseller, ds) == nil {
			now := time.Now()
			for _, d := range ds {
				lat.add(now.Sub(eventTime(d.Event)), 1)
			}
			acked += int64(len(ds))
		}
	}
}

func (e *relayEnv) pullHTTP(ctx context.Context, reseller string) ([]pull.Delivery, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.url+"/v1/resellers/"+reseller+"/events?max=500&wait=500ms", nil)
	req.Header.Set("Authorization", "Bearer "+e.tokens[reseller])
	resp, err := e.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out struct{ Events []pull.Delivery }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, err
	}
	return out.Events, nil
}

func (e *relayEnv) ackHTTP(ctx context.Context, reseller string, ds []pull.Delivery) error {
	ids := make([]string, len(ds))
	for i, d := range ds {
		ids[i] = d.AckID
	}
	b, _ := json.Marshal(map[string]any{"ack": ids})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.url+"/v1/resellers/"+reseller+"/acks", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+e.tokens[reseller])
	resp, err := e.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("ack answered %d", resp.StatusCode)
	}
	return nil
}

func eventTime(raw json.RawMessage) time.Time {
	var e struct {
		Time time.Time `json:"time"`
	}
	_ = json.Unmarshal(raw, &e)
	return e.Time
}

func rowOrError(r Row, err error) Row {
	if err != nil {
		r.Case += " (error: " + err.Error() + ")"
	}
	return r
}
