package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Drain is a reseller that pulls and acks in the background and counts
// every delivery by event id. Like Load, it never fails a test itself.
type Drain struct {
	urls     func() []string
	reseller string
	token    string
	client   *http.Client

	mu      sync.Mutex
	got     map[string]int
	changed chan struct{}
	cancel  context.CancelFunc
	done    sync.WaitGroup
}

// StartDrain pulls (long polls) and acks as reseller through the relays
// urls returns, moving to the next one when a relay does not answer.
func StartDrain(urls func() []string, reseller, token string) *Drain {
	ctx, cancel := context.WithCancel(context.Background())
	d := &Drain{urls: urls, reseller: reseller, token: token, cancel: cancel,
		client: &http.Client{Timeout: 15 * time.Second}, got: map[string]int{}, changed: make(chan struct{})}
	d.done.Add(1)
	go func() {
		defer d.done.Done()
		for i := 0; ctx.Err() == nil; i++ {
			list := d.urls()
			if !d.round(ctx, list[i%len(list)]) {
				select {
				case <-ctx.Done():
				case <-time.After(100 * time.Millisecond): // a client's retry pause
				}
			}
		}
	}()
	return d
}

// round pulls once and acks what came; false when the relay failed.
func (d *Drain) round(ctx context.Context, url string) bool {
	var page struct{ Events []Delivery }
	if !d.call(ctx, http.MethodGet, fmt.Sprintf("%s/v1/resellers/%s/events?max=500&wait=2s", url, d.reseller), nil, &page) {
		return false
	}
	if len(page.Events) == 0 {
		return true
	}
	// Received is delivered: a reseller applies what it pulled, and if its
	// ack is lost the relay may still have it (then it does not come back).
	d.mu.Lock()
	for _, e := range page.Events {
		d.got[e.Event.ID]++
	}
	close(d.changed)
	d.changed = make(chan struct{})
	d.mu.Unlock()
	ids := make([]string, len(page.Events))
	for i, e := range page.Events {
		ids[i] = e.AckID
	}
	body, _ := json.Marshal(map[string]any{"ack": ids})
	return d.call(ctx, http.MethodPost, url+"/v1/resellers/"+d.reseller+"/acks", body, nil)
}

func (d *Drain) call(ctx context.Context, method, url string, body []byte, out any) bool {
	req, _ := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+d.token)
	resp, err := d.client.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false
	}
	if out == nil {
		return true
	}
	return json.NewDecoder(resp.Body).Decode(out) == nil
}

// WaitAll waits until every id in want was delivered or
// timeout passes, and returns those still missing.
func (d *Drain) WaitAll(want []string, timeout time.Duration) []string {
	deadline := time.After(timeout)
	for {
		d.mu.Lock()
		var missing []string
		for _, id := range want {
			if d.got[id] == 0 {
				missing = append(missing, id)
			}
		}
		ch := d.changed
		d.mu.Unlock()
		if len(missing) == 0 {
			return nil
		}
		select {
		case <-ch:
		case <-deadline:
			return missing
		}
	}
}

// Stop ends the drain and returns how often each id was delivered.
func (d *Drain) Stop() map[string]int {
	d.cancel()
	d.done.Wait()
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]int, len(d.got))
	for k, v := range d.got {
		out[k] = v
	}
	return out
}
