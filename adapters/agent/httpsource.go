package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/delivery"
	"github.com/billrelay/billrelay/relay/pull"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// httpSource reads a reseller's events over the relay's HTTP pull API,
// for sites that can reach the relay only over HTTP.
type httpSource struct {
	base, reseller, token string
	client                *http.Client
}

var _ delivery.Source = (*httpSource)(nil)

func (s *httpSource) Fetch(ctx context.Context, max int, wait time.Duration) ([]delivery.Delivered, error) {
	q := url.Values{"max": {strconv.Itoa(min(max, relay.MaxPull))}, "wait": {wait.String()}}
	var out struct {
		Events []pull.Delivery `json:"events"`
	}
	if err := s.call(ctx, http.MethodGet, "/events?"+q.Encode(), nil, &out); err != nil {
		return nil, err
	}
	ds := make([]delivery.Delivered, 0, len(out.Events))
	for _, d := range out.Events {
		m, err := newHTTPMsg(s, d)
		if err != nil {
			return nil, err
		}
		ds = append(ds, m)
	}
	return ds, nil
}

// call does one request against /v1/resellers/{id}.
func (s *httpSource) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.base+"/v1/resellers/"+s.reseller+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("relay %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("relay %s %s: status %d: %s", method, path, resp.StatusCode, relay.Excerpt(b))
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

// httpMsg is one pulled event, settled through the ack API.
type httpMsg struct {
	src     *httpSource
	d       pull.Delivery
	subject string
	header  nats.Header
}

func newHTTPMsg(s *httpSource, d pull.Delivery) (*httpMsg, error) {
	var e events.Event
	if err := json.Unmarshal(d.Event, &e); err != nil {
		return nil, fmt.Errorf("event from the relay: %w", err)
	}
	h := nats.Header{}
	h.Set(relay.HeaderEventID, e.ID)
	h.Set(relay.HeaderType, e.Type)
	if d.Replay {
		h.Set(relay.HeaderReplay, "true")
	}
	if d.Redriven {
		h.Set(relay.HeaderRedriven, "true")
	}
	if len(d.Flags) > 0 {
		h.Set(relay.HeaderFlags, strings.Join(d.Flags, ","))
	}
	return &httpMsg{src: s, d: d, subject: events.DeliverSubject(s.reseller, e.Key()), header: h}, nil
}

func (m *httpMsg) Data() []byte         { return m.d.Event }
func (m *httpMsg) Headers() nats.Header { return m.header }
func (m *httpMsg) Subject() string      { return m.subject }

func (m *httpMsg) Metadata() (*jetstream.MsgMetadata, error) {
	return &jetstream.MsgMetadata{NumDelivered: m.d.Attempt, Sequence: jetstream.SequencePair{Stream: m.d.Seq}}, nil
}

func (m *httpMsg) settle(req pull.AckRequest) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var res pull.AckResult
	if err := m.src.call(ctx, http.MethodPost, "/acks", req, &res); err != nil {
		return err
	}
	if len(res.Errors) > 0 {
		return fmt.Errorf("relay refused: %s", res.Errors[0].Reason)
	}
	return nil
}

func (m *httpMsg) Ack() error { return m.settle(pull.AckRequest{Ack: []string{m.d.AckID}}) }

func (m *httpMsg) NakWithDelay(d time.Duration) error {
	return m.settle(pull.AckRequest{Nak: []pull.NakItem{{AckID: m.d.AckID, Delay: d.String()}}})
}

func (m *httpMsg) TermWithReason(reason string) error {
	return m.settle(pull.AckRequest{Term: []pull.Term{{AckID: m.d.AckID, Reason: reason}}})
}

func (m *httpMsg) InProgress() error {
	return m.settle(pull.AckRequest{Progress: []string{m.d.AckID}})
}
