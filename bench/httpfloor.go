package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// httpFloor measures the ceiling of one HTTP request per event on this
// machine: the same client against a net/http handler that reads the body
// and answers 202 with a one-line result, storing nothing. Single-event
// ingest cannot beat it, whatever the store does.
func httpFloor(ctx context.Context, clients int, d time.Duration) (Row, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return Row{}, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"results":[{"id":"x","status":"accepted"}]}`))
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024}}
	defer client.CloseIdleConnections()
	url := "http://" + ln.Addr().String() + "/v1/events"
	body := bytes.Repeat([]byte("x"), 400) // about one event's JSON
	s, elapsed, err := runFor(ctx, clients, d, func(ctx context.Context) (int, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			return 0, fmt.Errorf("answered %d", resp.StatusCode)
		}
		return 1, nil
	})
	if err != nil && ctx.Err() == nil {
		return Row{}, err
	}
	return s.row("bare net/http 202 handler, single events (one request per event, nothing stored)", clients, elapsed), nil
}
