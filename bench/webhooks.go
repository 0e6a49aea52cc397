package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/billrelay/billrelay/adapters/webhook"
	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/node"
	"github.com/billrelay/billrelay/relay/push"
	"github.com/nats-io/nats.go/jetstream"
)

// webhookCase pushes events of one shared account to n resellers, each
// with its own webhook on a local receiver, and measures deliveries per
// second and the latency from ingest to the receiver's 2xx.
func webhookCase(ctx context.Context, dir string, cfg Config, n, events int) (Row, error) {
	recv, err := newReceiver(n * events)
	if err != nil {
		return Row{}, err
	}
	defer recv.close()
	r, err := node.Open(ctx, relay.Config{DataDir: dir, SyncAlways: cfg.SyncAlways, SyncInterval: cfg.SyncInterval,
		AckWait: time.Minute}, cfg.Log)
	if err != nil {
		return Row{}, err
	}
	defer r.Close()
	r.StartPush(push.PushConfig{NewSink: webhook.NewFactory(15*time.Second, &webhook.Clients{}), Concurrency: 16})
	if _, _, err := r.Registry().RegisterSeller(ctx, "sell-1"); err != nil {
		return Row{}, err
	}
	for i := range n {
		spec := relay.ResellerSpec{ID: fmt.Sprintf("res-%03d", i), Seller: "sell-1", Accounts: []string{"acc-wh"},
			Webhook: &relay.WebhookSpec{URL: recv.url + "/" + fmt.Sprint(i)}}
		if _, _, err := r.Registry().RegisterReseller(ctx, spec); err != nil {
			return Row{}, err
		}
	}
	start := time.Now()
	if err := publishBatches(ctx, r, events); err != nil {
		return Row{}, err
	}
	select {
	case <-recv.done:
	case <-time.After(5 * time.Minute):
		return Row{}, fmt.Errorf("only %d of %d webhook deliveries arrived", recv.got.Load(), n*events)
	case <-ctx.Done():
		return Row{}, ctx.Err()
	}
	return recv.lat.row(fmt.Sprintf("relay webhooks, %d resellers on one account (deliveries)", n), n, time.Since(start)), nil
}

func publishBatches(ctx context.Context, r *node.Node, n int) error {
	env := &relayEnv{}
	for sent := 0; sent < n; sent += 100 {
		evs, _, err := decodeBatch(env.body(min(100, n-sent), "acc-wh"))
		if err != nil {
			return err
		}
		if _, err := r.Ingest().Publish(ctx, relay.Principal{Role: relay.RoleSeller, ID: "sell-1"}, evs); err != nil {
			return err
		}
	}
	return nil
}

// receiver is the local webhook endpoint of every bench reseller.
type receiver struct {
	srv  *http.Server
	url  string
	lat  sample
	got  atomic.Int64
	want int64
	done chan struct{}
	once sync.Once
	seen sync.Map
}

func newReceiver(want int) (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	rc := &receiver{url: "http://" + ln.Addr().String(), want: int64(want), done: make(chan struct{})}
	rc.srv = &http.Server{Handler: http.HandlerFunc(rc.serve)}
	go func() { _ = rc.srv.Serve(ln) }()
	return rc, nil
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.WriteHeader(http.StatusNoContent)
	key := r.URL.Path + " " + r.Header.Get("webhook-id")
	if _, dup := rc.seen.LoadOrStore(key, true); dup {
		return
	}
	rc.lat.add(time.Since(eventTime(json.RawMessage(body))), 1)
	if rc.got.Add(1) == rc.want {
		rc.once.Do(func() { close(rc.done) })
	}
}

func (rc *receiver) close() { _ = rc.srv.Close() }

// rawConsume is the reference: n durable consumers each reading and
// acking the same events with bare nats.go.
func (f *reference) rawConsume(ctx context.Context, n, events int) Row {
	subject := "ref.consume." + fmt.Sprint(n)
	for i := range events {
		if _, err := f.js.PublishMsgAsync(f.msg(subject)); err != nil {
			return Row{Case: "bare JetStream consume (error: " + err.Error() + ")"}
		}
		if i%1000 == 999 { // a bounded window: a full one stalls and drops (perf-baseline.md)
			<-f.js.PublishAsyncComplete()
		}
	}
	<-f.js.PublishAsyncComplete()
	var done sync.WaitGroup
	start := time.Now()
	lat := &sample{}
	for i := range n {
		c, err := f.js.CreateOrUpdateConsumer(ctx, "REF", jetstream.ConsumerConfig{Durable: fmt.Sprintf("raw-%d-%d", n, i),
			FilterSubject: subject, AckPolicy: jetstream.AckExplicitPolicy})
		if err != nil {
			return Row{Case: "bare JetStream consume (error: " + err.Error() + ")"}
		}
		done.Add(1)
		go func() {
			defer done.Done()
			var k atomic.Int64
			fin := make(chan struct{})
			cc, err := c.Consume(func(m jetstream.Msg) {
				_ = m.Ack()
				lat.add(0, 1)
				if k.Add(1) == int64(events) {
					close(fin)
				}
			})
			if err != nil {
				return
			}
			<-fin
			cc.Stop()
		}()
	}
	done.Wait()
	return lat.row(fmt.Sprintf("bare JetStream consume+ack, %d consumers (deliveries)", n), n, time.Since(start))
}

func decodeBatch(body []byte) ([]events.Event, bool, error) { return events.Decode(body, time.Now()) }
