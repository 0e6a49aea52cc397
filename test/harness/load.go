package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// Load publishes single events in the background, each retried with the
// same id until it is answered 202, and remembers what was accepted. It
// never fails a test itself (it runs on its own goroutines); the test
// reads Accepted and Refused when it stops it.
type Load struct {
	urls   func() []string // relays to spread requests over; read per request
	token  string
	next   func(n int) map[string]any
	client *http.Client

	mu       sync.Mutex
	accepted []string
	refused  map[int]int // status (0: no answer) -> count
	gap      time.Duration
	last     time.Time
	waiters  []loadWaiter
	cancel   context.CancelFunc
	done     sync.WaitGroup
}

type loadWaiter struct {
	n  int
	ch chan struct{}
}

// StartLoad runs clients goroutines posting next(i) for i = 0, 1, … to
// the relays urls returns, round robin.
func StartLoad(urls func() []string, token string, clients int, next func(i int) map[string]any) *Load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &Load{urls: urls, token: token, next: next, cancel: cancel, refused: map[int]int{},
		client: &http.Client{Timeout: 10 * time.Second}, last: time.Now()}
	var mu sync.Mutex
	i := 0
	for range clients {
		l.done.Add(1)
		go func() {
			defer l.done.Done()
			for ctx.Err() == nil {
				mu.Lock()
				n := i
				i++
				mu.Unlock()
				l.publish(ctx, n)
			}
		}()
	}
	return l
}

func (l *Load) publish(ctx context.Context, n int) {
	ev := l.next(n)
	body, _ := json.Marshal(ev)
	for try := 0; ctx.Err() == nil; try++ {
		urls := l.urls()
		status := l.post(ctx, urls[(n+try)%len(urls)], body)
		if status == http.StatusAccepted {
			l.accept(fmt.Sprint(ev["id"]))
			return
		}
		l.mu.Lock()
		l.refused[status]++
		l.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond): // a client's retry pause, not a test wait
		}
	}
}

func (l *Load) post(ctx context.Context, url string, body []byte) int {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/events", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+l.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := l.client.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func (l *Load) accept(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	l.gap = max(l.gap, now.Sub(l.last))
	l.last = now
	l.accepted = append(l.accepted, id)
	kept := l.waiters[:0]
	for _, w := range l.waiters {
		if len(l.accepted) >= w.n {
			close(w.ch)
			continue
		}
		kept = append(kept, w)
	}
	l.waiters = kept
}

// Reached is closed once n events in all were accepted.
func (l *Load) Reached(n int) <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	ch := make(chan struct{})
	if len(l.accepted) >= n {
		close(ch)
		return ch
	}
	l.waiters = append(l.waiters, loadWaiter{n: n, ch: ch})
	return ch
}

// Stop ends the load and returns the accepted ids, the refusals by status
// and the longest time between two acceptances.
func (l *Load) Stop() (accepted []string, refused map[int]int, longestGap time.Duration) {
	l.cancel()
	l.done.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.accepted...), l.refused, l.gap
}
