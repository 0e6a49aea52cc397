package tmf

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
)

// Hubs is what the hub endpoints need from the relay.
type Hubs interface {
	AddHub(ctx context.Context, reseller string, h relay.Hub) (relay.Hub, error)
	RemoveHub(ctx context.Context, reseller, id string) error
}

// Endpoints serves the listeners (seller token) and the hubs (reseller
// token) of both APIs, v4 and v5.
func Endpoints(mp Mapper, pub relay.Publisher, hubs Hubs) []relay.Endpoint {
	var out []relay.Endpoint
	for _, api := range []string{APIOrdering, APIInventory} {
		base := "/tmf-api/" + api + "/{version}"
		out = append(out,
			relay.Endpoint{Pattern: "POST " + base + "/listener/{event}", Role: relay.RoleSeller, Handle: mp.listen(api, pub)},
			relay.Endpoint{Pattern: "POST " + base + "/hub", Role: relay.RoleReseller, Handle: addHub(api, hubs)},
			relay.Endpoint{Pattern: "DELETE " + base + "/hub/{id}", Role: relay.RoleReseller, Handle: removeHub(hubs)},
		)
	}
	return out
}

func version(r *http.Request) (string, error) {
	v := r.PathValue("version")
	if v != "v4" && v != "v5" {
		return "", fmt.Errorf("%w: TMF API version %q; this relay speaks v4 and v5", events.ErrNotFound, v)
	}
	return v, nil
}

// listen answers a listener as the spec says: v4 201 with an
// EventSubscription-shaped body, v5 204.
func (mp Mapper) listen(api string, pub relay.Publisher) func(context.Context, relay.Principal, *http.Request) (int, any, error) {
	return func(ctx context.Context, p relay.Principal, r *http.Request) (int, any, error) {
		v, err := version(r)
		if err != nil {
			return 0, nil, err
		}
		name := r.PathValue("event")
		if !Listener[api][name] {
			return 0, nil, fmt.Errorf("%w: no listener %q on %s", events.ErrNotFound, name, api)
		}
		var n Notification
		if err := json.NewDecoder(r.Body).Decode(&n); err != nil {
			return 0, nil, fmt.Errorf("%w: %v", events.ErrMalformed, err)
		}
		evs, err := mp.Map(p.ID, name, r.URL.Query().Get("account"), n, time.Now())
		if err == nil && len(evs) > 0 {
			_, err = pub.Publish(ctx, p, evs)
		}
		if err != nil {
			return 0, nil, err
		}
		if v == "v5" {
			return http.StatusNoContent, nil, nil
		}
		return http.StatusCreated, map[string]string{"id": n.ownID(), "callback": r.URL.Path}, nil
	}
}

type hubRequest struct {
	Callback string `json:"callback"`
	Query    string `json:"query"`
	Type     string `json:"@type,omitempty"`
}

// hubAnswer is TMF's Hub, plus the secret the notifications are signed
// with (returned once, here).
type hubAnswer struct {
	ID            string `json:"id"`
	Href          string `json:"href,omitempty"`
	Callback      string `json:"callback"`
	Query         string `json:"query,omitempty"`
	Type          string `json:"@type,omitempty"`
	WebhookSecret string `json:"webhook_secret"`
}

// decodeHub reads a hub subscription: a callback and an optional query
// that must parse.
func decodeHub(body io.Reader) (hubRequest, error) {
	var req hubRequest
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return hubRequest{}, fmt.Errorf("%w: %v", events.ErrMalformed, err)
	}
	if _, err := ParseQuery(req.Query); err != nil {
		return hubRequest{}, events.Invalid("query", "%v", err)
	}
	return req, nil
}

func addHub(api string, hubs Hubs) func(context.Context, relay.Principal, *http.Request) (int, any, error) {
	return func(ctx context.Context, p relay.Principal, r *http.Request) (int, any, error) {
		v, err := version(r)
		if err != nil {
			return 0, nil, err
		}
		req, err := decodeHub(r.Body)
		if err != nil {
			return 0, nil, err
		}
		h, err := hubs.AddHub(ctx, p.ID, relay.Hub{API: api + "/" + v, Callback: req.Callback, Query: req.Query})
		if err != nil {
			return 0, nil, err
		}
		a := hubAnswer{ID: h.ID, Callback: h.Callback, Query: h.Query, WebhookSecret: h.Secret}
		if v == "v5" {
			a.Href, a.Type = strings.TrimSuffix(r.URL.Path, "/")+"/"+h.ID, "Hub"
		}
		return http.StatusCreated, a, nil
	}
}

func removeHub(hubs Hubs) func(context.Context, relay.Principal, *http.Request) (int, any, error) {
	return func(ctx context.Context, p relay.Principal, r *http.Request) (int, any, error) {
		if _, err := version(r); err != nil {
			return 0, nil, err
		}
		if err := hubs.RemoveHub(ctx, p.ID, r.PathValue("id")); err != nil {
			return 0, nil, err
		}
		return http.StatusNoContent, nil, nil
	}
}
