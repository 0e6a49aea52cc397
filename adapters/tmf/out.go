package tmf

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/billrelay/billrelay/adapters/webhook"
	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
)

// Notify builds the TMF notification of a catalog event for a hub of api
// ("productOrderingManagement/v4", …), or reports that the event is not
// that API's business.
func Notify(m relay.Message, api string, now time.Time) (map[string]any, bool) {
	var e events.Event
	if json.Unmarshal(m.Body, &e) != nil {
		return nil, false
	}
	d, _ := events.ParseData(e.Data)
	kind := d.Kind(e.Type)
	name, ver, _ := strings.Cut(api, "/")
	var typ string
	var payload map[string]any
	switch {
	case name == APIOrdering && kind == events.KindOrder && d.State != "":
		typ, payload = "ProductOrderStateChangeEvent", map[string]any{"productOrder": productOrderOf(e, d, ver)}
	case name == APIInventory && kind == events.KindService && d.State != "":
		typ, payload = "ServiceStateChangeEvent", map[string]any{"service": serviceOf(e, d, ver)}
	default:
		return nil, false
	}
	n := map[string]any{"eventId": e.ID, "eventTime": now.UTC().Format(time.RFC3339Nano), "eventType": typ,
		"domain": name, "title": typ, "description": e.Type + " of " + e.Item, "event": payload}
	if ver == "v5" {
		n["timeOccurred"], n["@type"], n["@baseType"] = e.Time.Format(time.RFC3339Nano), typ, "Event"
	} else {
		n["timeOcurred"] = e.Time.Format(time.RFC3339Nano)
	}
	return n, true
}

// productOrderOf: an item event ("<order>:<item>") becomes the order with
// that one item; an order event the order with the items it listed (v4
// requires at least one item with an id and an action).
func productOrderOf(e events.Event, d events.Data, ver string) map[string]any {
	order, item, isItem := strings.Cut(e.Item, ":")
	var extra struct {
		Action string              `json:"action"`
		Items  []map[string]string `json:"items"`
	}
	_ = json.Unmarshal(e.Data, &extra)
	po := map[string]any{"id": order, "href": "/tmf-api/productOrderingManagement/" + ver + "/productOrder/" + url.PathEscape(order),
		"billingAccount": map[string]string{"id": e.Account}}
	action := extra.Action
	if action == "" {
		action = "noChange"
	}
	switch {
	case isItem:
		po["productOrderItem"] = []map[string]string{{"id": item, "action": action, "state": tmfOrderState(d.State, true)}}
	case len(extra.Items) > 0:
		po["state"], po["productOrderItem"] = tmfOrderState(d.State, false), extra.Items
	default:
		po["state"] = tmfOrderState(d.State, false)
		po["productOrderItem"] = []map[string]string{{"id": "1", "action": "noChange"}}
	}
	return po
}

func serviceOf(e events.Event, d events.Data, ver string) map[string]any {
	return map[string]any{"id": e.Item, "href": "/tmf-api/serviceInventory/" + ver + "/service/" + url.PathEscape(e.Item),
		"state":                 tmfServiceState[d.State],
		"serviceCharacteristic": []map[string]string{{"name": "billrelayState", "valueType": "string", "value": d.State}}}
}

// HubSink delivers to every hub of a reseller whose API and query the
// event matches, signed with the hub's secret as webhooks are (Standard
// Webhooks headers). A failure at any hub retries the event at all of
// them: receivers dedupe on eventId (and webhook-id), which is the event id.
// Client must dial under the reseller's callback policy
// (webhook.NewClient).
type HubSink struct {
	Hubs    []relay.Hub
	Client  *http.Client
	Timeout time.Duration
}

var _ relay.Sink = (*HubSink)(nil)

// Deliver implements [relay.Sink].
func (s *HubSink) Deliver(ctx context.Context, m relay.Message) error {
	var errs []error
	for _, h := range s.Hubs {
		n, ok := Notify(m, h.API, time.Now())
		if !ok {
			continue
		}
		if q, err := ParseQuery(h.Query); err != nil || !q.Match(n) {
			continue
		}
		errs = append(errs, s.post(ctx, h, m, n))
	}
	return errors.Join(errs...)
}

func (s *HubSink) post(ctx context.Context, h relay.Hub, m relay.Message, n map[string]any) error {
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	body, _ := json.Marshal(n)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.Callback, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: hub %s: %w", relay.ErrPermanent, h.ID, webhook.PostError(h.Callback, err))
	}
	var secrets []string
	if h.Secret != "" {
		secrets = []string{h.Secret}
	}
	webhook.SetHeaders(req.Header, m, secrets, body)
	resp, err := s.Client.Do(req)
	if err != nil {
		return fmt.Errorf("hub %s: %w", h.ID, webhook.PostError(h.Callback, err))
	}
	defer resp.Body.Close()
	excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	return relay.ClassifyHTTP(resp.StatusCode, resp.Header, relay.Excerpt(excerpt))
}
