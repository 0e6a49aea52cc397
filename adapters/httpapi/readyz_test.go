package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/billrelay/billrelay/relay"
	"github.com/nats-io/nats.go/jetstream"
)

// TestReadyzNamesABrokenRouter breaks the router's consumer under a running
// relay and holds it broken (a consumer of the same name that the router
// cannot take over): /readyz answers 503 naming the router while ingest
// still answers 202; once the blocker is gone the router re-creates its
// consumer, /readyz answers 200 again, and every event accepted meanwhile
// is delivered, none twice.
func TestReadyzNamesABrokenRouter(t *testing.T) {
	l := startLive(t, nil)
	l.waitReady(t, http.StatusOK)
	l.publish(t, "before")
	if got := l.pullIDs(t, 1); !slices.Equal(got, []string{"before"}) {
		t.Fatalf("before the break: %v", got)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	js := l.r.JetStream()
	blockRouter(t, ctx, js)
	body, h := l.waitReady(t, http.StatusServiceUnavailable)
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Code != "unavailable" || !strings.Contains(e.Error.Message, "router: ") {
		t.Fatalf("/readyz body %s, want code unavailable naming the router", body)
	}
	if h.Get("Retry-After") == "" {
		t.Fatalf("503 without Retry-After")
	}
	if !strings.Contains(l.logs.String(), `"part":"router"`) {
		t.Fatalf("the router's stop was not logged with its name:\n%s", l.logs)
	}

	want := []string{"during-1", "during-2", "during-3"}
	for _, id := range want {
		l.publish(t, id)
	}
	if err := js.DeleteConsumer(ctx, relay.StreamIngest, "router"); err != nil {
		t.Fatalf("remove the blocker: %v", err)
	}
	l.waitReady(t, http.StatusOK)
	if got := l.pullIDs(t, len(want)); !slices.Equal(got, want) {
		t.Fatalf("after recovery res-a got %v, want %v", got, want)
	}
	status, _, out := l.do(t, ctx, "GET", "/v1/resellers/res-a/events?wait=1s", l.resA, nil)
	if status != http.StatusOK || !strings.Contains(string(out), `"events":[]`) {
		t.Fatalf("after recovery a further pull: %d %s, want nothing (no event routed twice)", status, out)
	}
}

// blockRouter deletes the router's consumer and puts one of the same name
// in its place that the router cannot update (its replay policy is fixed
// at creation), so that the router stays down until the test removes it. A
// router that re-created its consumer between the two calls is broken
// again by the next round.
func blockRouter(t *testing.T, ctx context.Context, js jetstream.JetStream) {
	t.Helper()
	for round := 0; round < 100; round++ {
		if err := js.DeleteConsumer(ctx, relay.StreamIngest, "router"); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			t.Fatalf("delete router consumer: %v", err)
		}
		_, err := js.CreateConsumer(ctx, relay.StreamIngest, jetstream.ConsumerConfig{
			Durable: "router", AckPolicy: jetstream.AckExplicitPolicy, ReplayPolicy: jetstream.ReplayOriginalPolicy,
		})
		if err == nil {
			return
		}
		if !errors.Is(err, jetstream.ErrConsumerExists) {
			t.Fatalf("create blocker: %v", err)
		}
	}
	t.Fatal(fmt.Errorf("the router re-created its consumer before every blocker"))
}
