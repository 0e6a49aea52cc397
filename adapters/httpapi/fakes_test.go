package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/billrelay/billrelay/adapters/httpapi"
	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/delivery"
	"github.com/billrelay/billrelay/relay/dlq"
	"github.com/billrelay/billrelay/relay/metrics"
	"github.com/billrelay/billrelay/relay/ops"
	"github.com/billrelay/billrelay/relay/pull"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// The fakes below stand for the parts behind the API, one per interface,
// so that the handlers are tested without NATS. They share one record of
// the calls made (method and the arguments that matter) and one error
// that every fallible call returns when set.

type record struct {
	calls []string
	err   error
}

func (r *record) call(format string, args ...any) error {
	r.calls = append(r.calls, fmt.Sprintf(format, args...))
	return r.err
}

// Tokens of the fake directory: two sellers and two resellers of sell-1.
const (
	tokSell1 = "tok-sell-1"
	tokSell2 = "tok-sell-2"
	tokResA  = "tok-res-a"
	tokResB  = "tok-res-b"
)

type fakeDirectory struct{ *record }

func (f fakeDirectory) Authenticate(token string) (relay.Principal, bool) {
	p, ok := map[string]relay.Principal{
		tokSell1: {Role: relay.RoleSeller, ID: "sell-1"}, tokSell2: {Role: relay.RoleSeller, ID: "sell-2"},
		tokResA: {Role: relay.RoleReseller, ID: "res-a"}, tokResB: {Role: relay.RoleReseller, ID: "res-b"},
	}[token]
	return p, ok
}

func (f fakeDirectory) RegisterSeller(_ context.Context, id string) (relay.Seller, string, error) {
	return relay.Seller{ID: id}, "tok-new", f.call("RegisterSeller %s", id)
}

func (f fakeDirectory) Seller(id string) (relay.Seller, error) {
	return relay.Seller{ID: id}, f.call("Seller %s", id)
}

func (f fakeDirectory) RegisterReseller(_ context.Context, spec relay.ResellerSpec) (relay.Reseller, relay.Credentials, error) {
	return relay.Reseller{ID: spec.ID, Seller: spec.Seller, Accounts: spec.Accounts},
		relay.Credentials{Token: "tok-new"}, f.call("RegisterReseller %s", spec.ID)
}

// reseller has a webhook whose URL and secrets no answer may show.
func reseller(id string) relay.Reseller {
	return relay.Reseller{ID: id, Seller: "sell-1", Webhook: &relay.Webhook{URL: "https://user:pw@r.example/h?key=k1",
		Secrets: []relay.WebhookSecret{{Value: "whsec_current"}}}}
}

func (f fakeDirectory) Reseller(id string) (relay.Reseller, error) {
	return reseller(id), f.call("Reseller %s", id)
}

func (f fakeDirectory) Resellers() []relay.Reseller {
	_ = f.call("Resellers")
	return []relay.Reseller{reseller("res-a")}
}

func (f fakeDirectory) SetWebhook(_ context.Context, role relay.Role, id string, spec relay.WebhookSpec) (string, error) {
	return "whsec_new", f.call("SetWebhook %s %s %s", role, id, spec.URL)
}

func (f fakeDirectory) RemoveWebhook(_ context.Context, role relay.Role, id string) error {
	return f.call("RemoveWebhook %s %s", role, id)
}

func (f fakeDirectory) SetCallbackAllow(_ context.Context, reseller string, cidrs []string) ([]string, error) {
	return cidrs, f.call("SetCallbackAllow %s %v", reseller, cidrs)
}

func (f fakeDirectory) SetNotify(_ context.Context, seller string, n relay.Notify) (string, error) {
	return "whsec_new", f.call("SetNotify %s %s", seller, n.WebhookURL)
}

type fakeIngest struct {
	*record
	refuse error // Authorize's answer
}

func (f fakeIngest) Authorize(p relay.Principal, evs []events.Event) error {
	_ = f.call("Authorize %s:%s %d", p.Role, p.ID, len(evs))
	return f.refuse
}

func (f fakeIngest) Publish(_ context.Context, p relay.Principal, evs []events.Event) ([]relay.Result, error) {
	res := make([]relay.Result, len(evs))
	for i, e := range evs {
		res[i] = relay.Result{ID: e.ID, Status: relay.StatusAccepted}
	}
	return res, f.call("Publish %s:%s %d", p.Role, p.ID, len(evs))
}

type fakeInbox struct{ *record }

func (f fakeInbox) Pull(_ context.Context, role relay.Role, id string, max int, wait time.Duration) ([]pull.Delivery, error) {
	if role == relay.RoleSeller {
		return []pull.Delivery{{Event: []byte(`{"id":"o1"}`), AckID: "ack-1", Seq: 1}}, f.call("PullOrders %s %d %s", id, max, wait)
	}
	return nil, f.call("Pull %s %d %s", id, max, wait)
}

func (f fakeInbox) Ack(_ context.Context, role relay.Role, id string, req pull.AckRequest) (pull.AckResult, error) {
	if role == relay.RoleSeller {
		return pull.AckResult{Acked: len(req.Ack)}, f.call("AckOrders %s %v", id, req.Ack)
	}
	return pull.AckResult{Acked: len(req.Ack)}, f.call("Ack %s %v", id, req.Ack)
}

type fakeAdmin struct {
	*record
	steps []int // progress a long operation reports before it answers
}

func (f fakeAdmin) Pause(_ context.Context, reseller, reason string) error {
	return f.call("Pause %s %s", reseller, reason)
}

func (f fakeAdmin) Resume(_ context.Context, reseller string) error {
	return f.call("Resume %s", reseller)
}

func (f fakeAdmin) ResumeSeller(_ context.Context, seller string) error {
	return f.call("ResumeSeller %s", seller)
}

func (f fakeAdmin) ResellerStatus(_ context.Context, reseller string) (ops.Status, error) {
	return ops.Status{DLQ: 1}, f.call("ResellerStatus %s", reseller)
}

func (f fakeAdmin) SellerStatus(_ context.Context, seller string) (ops.Status, error) {
	return ops.Status{DLQ: 2}, f.call("SellerStatus %s", seller)
}

func (f fakeAdmin) WebhookStatus(id string) (delivery.DeliveryStatus, bool) {
	_ = f.call("WebhookStatus %s", id)
	return delivery.DeliveryStatus{Circuit: "open", ConsecutiveFailures: 3}, id == "res-a"
}

func (f fakeAdmin) progress(p ops.Progress) {
	for _, n := range f.steps {
		if p != nil {
			p(n)
		}
	}
}

func (f fakeAdmin) Replay(_ context.Context, reseller string, q ops.ReplayRequest, p ops.Progress) (ops.ReplayResult, error) {
	f.progress(p)
	return ops.ReplayResult{Matched: 3, Replayed: 3}, f.call("Replay %s %v", reseller, q.Items)
}

func (f fakeAdmin) Reconcile(_ context.Context, reseller string, fix bool, p ops.Progress) (ops.ReconcileResult, error) {
	f.progress(p)
	return ops.ReconcileResult{Checked: 4}, f.call("Reconcile %s %t", reseller, fix)
}

func (f fakeAdmin) DeadLetters(_ context.Context, reseller string, all bool, limit int) ([]dlq.DeadLetter, error) {
	return []dlq.DeadLetter{{ID: "7", Reseller: "res-a"}}, f.call("DeadLetters %q %t %d", reseller, all, limit)
}

func (f fakeAdmin) Redrive(_ context.Context, reseller string, ids []string) (int, error) {
	return len(ids), f.call("Redrive %s %v", reseller, ids)
}

func (f fakeAdmin) PublishOverride(_ context.Context, o ops.Override) (string, relay.Result, error) {
	return "ovr-1", relay.Result{ID: "ovr-1", Status: relay.StatusAccepted}, f.call("PublishOverride %s", o.Item)
}

func (f fakeAdmin) Item(_ context.Context, k events.Key) (ops.ItemView, error) {
	return ops.ItemView{Seller: k.Seller, Account: k.Account, Item: k.Item, Owner: "res-a"}, f.call("Item %s/%s/%s", k.Seller, k.Account, k.Item)
}

func (f fakeAdmin) SetOwner(_ context.Context, k events.Key, reseller string) error {
	return f.call("SetOwner %s %s", k.Item, reseller)
}

func (f fakeAdmin) ClearOwner(_ context.Context, k events.Key) error {
	return f.call("ClearOwner %s", k.Item)
}

func (f fakeAdmin) Audit(_ context.Context, limit int) ([]relay.AuditEntry, error) {
	return []relay.AuditEntry{{Actor: "admin", Action: "pause"}}, f.call("Audit %d", limit)
}

func (f fakeAdmin) OpsEvents(_ context.Context, limit int) ([]ops.OpsEvent, error) {
	return []ops.OpsEvent{{Type: "paused", Reseller: "res-a"}}, f.call("OpsEvents %d", limit)
}

type fakeHealth struct{ err error }

func (f *fakeHealth) Ready(context.Context) error { return f.err }

// api is the HTTP API over the fakes, with its log captured.
type api struct {
	rec     *record
	ingest  *fakeIngest
	admin   *fakeAdmin
	health  *fakeHealth
	metrics *metrics.Metrics
	logs    *syncBuffer
	h       http.Handler
}

func newAPI(t *testing.T, endpoints ...relay.Endpoint) *api {
	t.Helper()
	rec := &record{}
	a := &api{rec: rec, ingest: &fakeIngest{record: rec}, admin: &fakeAdmin{record: rec}, health: &fakeHealth{},
		logs: &syncBuffer{}, metrics: &metrics.Metrics{Registry: prometheus.NewRegistry(),
			IngestRejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "billrelay_ingest_rejected_total"}, []string{"reason"})}}
	a.metrics.Registry.MustRegister(a.metrics.IngestRejected)
	srv, err := httpapi.New(httpapi.Config{AdminToken: adminToken, Endpoints: endpoints,
		Ingest: a.ingest, Inbox: fakeInbox{rec}, Directory: fakeDirectory{rec}, Admin: a.admin, Health: a.health,
		Metrics: a.metrics}, zerolog.New(a.logs))
	if err != nil {
		t.Fatal(err)
	}
	a.h = srv.Handler()
	return a
}

// do serves one request; a body that is not "" is sent with its length.
func (a *api) do(method, path, token, body string, header ...string) *httptest.ResponseRecorder {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, path, rd)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	a.h.ServeHTTP(w, r)
	return w
}

// tooLarge is a body over the limit, and not JSON either (a string that
// never ends, so that a decoder reads on to the limit): only its size may
// be reported.
var tooLarge = `{"pad":"` + strings.Repeat("x", httpapi.MaxBody)
