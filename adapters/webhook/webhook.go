// Package webhook pushes events to a reseller's HTTP endpoint, signed the
// Standard Webhooks way (webhook-id, webhook-timestamp, webhook-signature),
// and says what the endpoint's answer means for the relay: delivered,
// retry (honouring Retry-After), gone (410) or permanent failure.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/registry"
)

// Headers billrelay adds next to the Standard Webhooks ones.
const (
	HeaderAttempt  = "Billrelay-Attempt"
	HeaderReplay   = "Billrelay-Replay"
	HeaderRedriven = "Billrelay-Redriven"
	HeaderFlags    = "Billrelay-Flags"
)

// maxExcerpt bounds what is read of an endpoint's answer: a huge or
// endless answer must not cost memory.
const maxExcerpt = 4 << 10

// Config of one endpoint.
type Config struct {
	URL string
	// Secrets returns the whsec_ secrets to sign with now, newest first:
	// during a rotation both signatures travel.
	Secrets func() []string
	// Timeout of one attempt (Standard Webhooks suggests 15-30s).
	Timeout time.Duration
	// Client is shared by the endpoints of one callback policy; nil builds
	// one for an admin's webhook (NewClient with private addresses).
	Client *http.Client
}

// Sink delivers to one endpoint.
type Sink struct {
	cfg    Config
	client *http.Client
}

var _ relay.Sink = (*Sink)(nil)

// DefaultTimeout bounds one attempt when Config.Timeout is not set
// (RELAY_WEBHOOK_TIMEOUT).
const DefaultTimeout = 15 * time.Second

// New builds the sink of one endpoint.
func New(cfg Config) (*Sink, error) {
	if cfg.URL == "" || cfg.Secrets == nil {
		return nil, errors.New("webhook: url and secrets required")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Client == nil {
		cfg.Client = NewClient(registry.CallbackPolicy{Private: true})
	}
	return &Sink{cfg: cfg, client: cfg.Client}, nil
}

// Deliver POSTs the event and classifies the answer with
// [relay.ClassifyHTTP].
func (s *Sink) Deliver(ctx context.Context, m relay.Message) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.URL, bytes.NewReader(m.Body))
	if err != nil {
		return fmt.Errorf("%w: %w", relay.ErrPermanent, PostError(s.cfg.URL, err))
	}
	SetHeaders(req.Header, m, s.cfg.Secrets(), m.Body)
	resp, err := s.client.Do(req)
	if err != nil {
		return PostError(s.cfg.URL, err)
	}
	defer resp.Body.Close()
	excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, maxExcerpt))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // reuse the connection if cheap
	return relay.ClassifyHTTP(resp.StatusCode, resp.Header, relay.Excerpt(excerpt))
}

// SetHeaders sets the Standard Webhooks headers of m carrying body, signed
// with secrets (none: no signature), and billrelay's delivery headers.
func SetHeaders(h http.Header, m relay.Message, secrets []string, body []byte) {
	ts := time.Now().Unix()
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "billrelay")
	h.Set("webhook-id", m.ID)
	h.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	if len(secrets) > 0 {
		h.Set("webhook-signature", Sign(secrets, m.ID, ts, body))
	}
	h.Set(HeaderAttempt, strconv.Itoa(m.Attempt))
	if m.Replay {
		h.Set(HeaderReplay, "true")
	}
	if m.Redriven {
		h.Set(HeaderRedriven, "true")
	}
	if len(m.Flags) > 0 {
		h.Set(HeaderFlags, strings.Join(m.Flags, ","))
	}
}

// Sign returns the webhook-signature header: one "v1,<base64 HMAC-SHA256>"
// per secret over "id.timestamp.body", space-separated.
func Sign(secrets []string, id string, ts int64, body []byte) string {
	sigs := make([]string, 0, len(secrets))
	for _, secret := range secrets {
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
		if err != nil {
			continue
		}
		mac := hmac.New(sha256.New, key)
		fmt.Fprintf(mac, "%s.%d.", id, ts)
		mac.Write(body)
		sigs = append(sigs, "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	}
	return strings.Join(sigs, " ")
}

// NewFactory returns the relay's sink factory for webhooks, taking their
// clients from clients.
func NewFactory(timeout time.Duration, clients *Clients) func(w relay.Webhook, p registry.CallbackPolicy) (relay.Sink, error) {
	return func(w relay.Webhook, p registry.CallbackPolicy) (relay.Sink, error) {
		return New(Config{URL: w.URL, Timeout: timeout, Client: clients.For(p),
			Secrets: func() []string { return w.ActiveSecrets(time.Now()) }})
	}
}
