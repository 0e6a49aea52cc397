package receipts

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay/store"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A reseller's consumer info requests over NATS ($JS.API.CONSUMER.INFO of
// its own consumer, imported as $BR.INFO.<reseller id>) are answered by
// the relay, from a copy at most infoFresh old and at most infoRate a
// second per reseller. JetStream's own API puts every account's info
// requests in one queue that drops all of them past 10,000 waiting, so a
// tenant's flood there would starve the relay's own lag and status reads.
const (
	infoRate  = 10
	infoBurst = 20
	infoFresh = time.Second
	// The answer's type and the error codes are JetStream's (nats.go reads
	// them as an API error).
	infoResponseType   = "io.nats.jetstream.api.v1.consumer_info_response"
	infoErrTooMany     = 10_600 // outside JetStream's own codes
	infoErrUnavailable = 10_601
)

type cachedInfo struct {
	body []byte
	at   time.Time
}

type infoCache struct {
	mu sync.Mutex
	m  map[string]cachedInfo
}

// infoAnswer is what JetStream answers a CONSUMER.INFO request with.
type infoAnswer struct {
	Type  string    `json:"type"`
	Error *apiError `json:"error,omitempty"`
	*jetstream.ConsumerInfo
}

type apiError struct {
	Code        int    `json:"code"`
	ErrCode     int    `json:"err_code"`
	Description string `json:"description"`
}

func (in *receiptIntake) answerInfo(reseller string, m *nats.Msg) {
	if !in.limitsOf(reseller).info.Allow() {
		in.r.metrics.Throttled.WithLabelValues(reseller).Inc()
		respondInfoError(m, 429, infoErrTooMany, "too many consumer info requests: at most 10 a second")
		return
	}
	body, err := in.info.get(reseller, func() ([]byte, error) { return in.readInfo(reseller) })
	if err != nil {
		in.r.log.Warn().Err(err).Str("reseller_id", reseller).Msg("consumer info for a reseller not read")
		respondInfoError(m, 503, infoErrUnavailable, "consumer info not available; try again")
		return
	}
	_ = m.Respond(body)
}

func (in *receiptIntake) readInfo(reseller string) ([]byte, error) {
	rs, ok := in.r.reg.Reseller(reseller)
	if !ok {
		return nil, fmt.Errorf("reseller %q: %w", reseller, events.ErrNotFound)
	}
	ctx, cancel := context.WithTimeout(context.Background(), in.timeout)
	defer cancel()
	cons, err := in.r.js.Consumer(ctx, rs.DeliveryStream(), reseller)
	if err != nil {
		return nil, store.Classify(err)
	}
	return json.Marshal(infoAnswer{Type: infoResponseType, ConsumerInfo: cons.CachedInfo()})
}

// get returns the reseller's cached answer, reading a new one when it is
// older than infoFresh.
func (c *infoCache) get(reseller string, read func() ([]byte, error)) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ci, ok := c.m[reseller]; ok && time.Since(ci.at) < infoFresh {
		return ci.body, nil
	}
	body, err := read()
	if err != nil {
		return nil, err
	}
	c.m[reseller] = cachedInfo{body: body, at: time.Now()}
	return body, nil
}

func respondInfoError(m *nats.Msg, code, errCode int, description string) {
	b, _ := json.Marshal(infoAnswer{Type: infoResponseType, Error: &apiError{Code: code, ErrCode: errCode, Description: description}})
	_ = m.Respond(b)
}
