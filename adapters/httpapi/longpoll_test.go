package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/test/harness"
	"github.com/nats-io/nats.go/jetstream"
)

// TestLongPollsOverTheWaitingLimitAnswer429: with as many long polls
// waiting on res-a's consumer as JetStream holds (its MaxWaiting, here made
// 2), one more is answered 429 with Retry-After at once, not a 500 after
// JetStream dropped it unanswered.
func TestLongPollsOverTheWaitingLimitAnswer429(t *testing.T) {
	l := startLive(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const limit = 2
	cons := setMaxWaiting(t, ctx, l.r.JetStream(), "res-a", limit)

	polls, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for range limit {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(polls, "GET", l.url+"/v1/resellers/res-a/events?wait=30s", nil)
			req.Header.Set("Authorization", "Bearer "+l.resA)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
	}
	defer func() { stop(); wg.Wait() }()
	harness.WaitFor(t, 30*time.Second, "the long polls to wait on the consumer", func() bool {
		info, err := cons.Info(ctx)
		return err == nil && info.NumWaiting == limit
	})

	start := time.Now()
	status, h, out := l.do(t, ctx, "GET", "/v1/resellers/res-a/events?wait=30s", l.resA, nil)
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal(out, &e); err != nil || status != http.StatusTooManyRequests || e.Error.Code != "too_many" {
		t.Fatalf("poll over the limit: %d %s (after %s), want 429 too_many", status, out, time.Since(start))
	}
	if !strings.Contains(e.Error.Message, "2 pulls") || h.Get("Retry-After") == "" {
		t.Fatalf("429 %s, Retry-After %q: want the limit named and a Retry-After", out, h.Get("Retry-After"))
	}
	if strings.Contains(l.logs.String(), `"level":"error"`) {
		t.Fatalf("a refused poll was logged as an error:\n%s", l.logs)
	}
}

// setMaxWaiting gives reseller's consumer a MaxWaiting of n (it is fixed at
// creation, so the consumer is made again with the same configuration) and
// returns it.
func setMaxWaiting(t *testing.T, ctx context.Context, js jetstream.JetStream, reseller string, n int) jetstream.Consumer {
	t.Helper()
	cons, err := js.Consumer(ctx, relay.StreamDelivery, reseller)
	if err != nil {
		t.Fatalf("consumer %s: %v", reseller, err)
	}
	cfg := cons.CachedInfo().Config
	cfg.MaxWaiting = n
	if err := js.DeleteConsumer(ctx, relay.StreamDelivery, reseller); err != nil {
		t.Fatal(err)
	}
	if cons, err = js.CreateConsumer(ctx, relay.StreamDelivery, cfg); err != nil {
		t.Fatalf("re-create %s with MaxWaiting %d: %v", reseller, n, err)
	}
	return cons
}

// TestDroppedLongPollIsNoError: a client that closes its long poll while
// it waits is not the server's error: no error line, no error_id.
func TestDroppedLongPollIsNoError(t *testing.T) {
	l := startLive(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cons, err := l.r.JetStream().Consumer(ctx, relay.StreamDelivery, "res-a")
	if err != nil {
		t.Fatal(err)
	}
	poll, drop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequestWithContext(poll, "GET", l.url+"/v1/resellers/res-a/events?wait=30s", nil)
		req.Header.Set("Authorization", "Bearer "+l.resA)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	harness.WaitFor(t, 30*time.Second, "the long poll to wait on the consumer", func() bool {
		info, err := cons.Info(ctx)
		return err == nil && info.NumWaiting == 1
	})
	drop()
	<-done
	harness.WaitFor(t, 30*time.Second, "the server to finish the dropped poll", func() bool {
		return strings.Contains(l.logs.String(), `"http_path":"/v1/resellers/res-a/events","reseller_id":"res-a","status"`)
	})
	logs := l.logs.String()
	if strings.Contains(logs, `"level":"error"`) || strings.Contains(logs, `"error_id"`) {
		t.Fatalf("a dropped long poll was logged as a server error:\n%s", logs)
	}
}
