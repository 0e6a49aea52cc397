package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/billrelay/billrelay/relay"
)

// client talks to a running relay for the ops commands: RELAY_URL and the
// admin token from RELAY_ADMIN_TOKEN (or, on the relay's own machine, the
// token file in RELAY_DATA_DIR).
type client struct {
	base, token string
	http        *http.Client
}

func newClient() (*client, error) {
	base := strings.TrimRight(envOr("RELAY_URL", "http://127.0.0.1:8080"), "/")
	token := os.Getenv("RELAY_ADMIN_TOKEN")
	if token == "" {
		b, err := os.ReadFile(filepath.Join(envOr("RELAY_DATA_DIR", relay.DefaultConfig().DataDir), "admin.token"))
		if err != nil {
			return nil, errors.New("set RELAY_ADMIN_TOKEN (no token file in RELAY_DATA_DIR either)")
		}
		token = strings.TrimSpace(string(b))
	}
	return &client{base: base, token: token, http: &http.Client{}}, nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// apiError is the relay's error answer, shown as one line.
type apiError struct {
	Status int
	Error  struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		ErrorID string `json:"error_id"`
	} `json:"error"`
}

func (e *apiError) String() string {
	s := fmt.Sprintf("%d %s: %s", e.Status, e.Error.Code, e.Error.Message)
	if e.Error.ErrorID != "" {
		s += " (error_id " + e.Error.ErrorID + ")"
	}
	return s
}

func (c *client) request(ctx context.Context, method, path string, body any) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	if actor := os.Getenv("RELAY_ACTOR"); actor != "" {
		req.Header.Set("X-Actor", actor)
	} else if u := os.Getenv("USER"); u != "" {
		req.Header.Set("X-Actor", u)
	}
	return req, nil
}

// do sends a request and decodes a 2xx answer into out.
func (c *client) do(ctx context.Context, method, path string, body, out any) error {
	req, err := c.request(ctx, method, path, body)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("relay at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return errorOf(resp.StatusCode, b)
	}
	if out == nil || len(b) == 0 {
		return nil
	}
	return json.Unmarshal(b, out)
}

func errorOf(status int, b []byte) error {
	e := &apiError{Status: status}
	if json.Unmarshal(b, e) != nil || e.Error.Message == "" {
		return fmt.Errorf("%d: %s", status, strings.TrimSpace(string(b)))
	}
	return errors.New(e.String())
}

// stream sends a long operation asking for NDJSON progress: each
// {"progress":n} line goes to onProgress, the last line into out.
func (c *client) stream(ctx context.Context, path string, body, out any, onProgress func(int)) error {
	req, err := c.request(ctx, http.MethodPost, path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/x-ndjson")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("relay at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		b, _ := io.ReadAll(resp.Body)
		return errorOf(resp.StatusCode, b)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var last []byte
	for sc.Scan() {
		var p struct {
			Progress *int `json:"progress"`
		}
		if json.Unmarshal(sc.Bytes(), &p) == nil && p.Progress != nil {
			onProgress(*p.Progress)
			continue
		}
		last = append(last[:0], sc.Bytes()...)
	}
	if strings.Contains(string(last), `"error":{`) {
		return errorOf(http.StatusInternalServerError, last)
	}
	return json.Unmarshal(last, out)
}

func withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, 2*time.Minute)
}
