package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/ingest"
	"github.com/billrelay/billrelay/relay/metrics"
	"github.com/billrelay/billrelay/relay/store"
	"github.com/billrelay/billrelay/relay/store/storetest"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

// TestDedupeOpensOnAnAgedWindow: a relay restarted after INGEST's last
// envelope left the dedupe window (idle longer than RELAY_DEDUPE_WINDOW,
// INGEST keeping 24h) has nothing to load and is ready at once. Before,
// it waited for an envelope that a reader starting at the window's start
// never delivers: the relay never became ready. (Found by helper-13.)
func TestDedupeOpensOnAnAgedWindow(t *testing.T) {
	js := storetest.JetStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	laid := relay.Config{DataDir: t.TempDir(), SyncAlways: true}
	laid.SetDefaults()
	if _, err := store.New(js, laid, zerolog.Nop(), nil).Provision(ctx); err != nil {
		t.Fatal(err)
	}
	m := nats.NewMsg(relay.SubjectIngest)
	m.Data = ingest.EncodeEnvelope(nil)
	ack, err := js.PublishMsg(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, relay.StreamIngest)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := st.GetMsg(ctx, ack.Sequence)
	if err != nil {
		t.Fatal(err)
	}
	cfg := laid
	cfg.DedupeWindow = time.Millisecond      // the window this relay restarts with
	tick := time.NewTicker(time.Millisecond) // a bounded poll until the envelope is out of the window
	defer tick.Stop()
	for time.Since(stored.Time) <= 10*cfg.DedupeWindow {
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatal("the envelope never aged")
		}
	}

	in := ingest.New(cfg, zerolog.Nop(), js, metrics.New(), nil, nil)
	tail, err := in.OpenDedupe(ctx)
	if err != nil || tail != nil {
		t.Fatalf("OpenDedupe on an aged window = tail %v, %v; want nothing to run", tail != nil, err)
	}
	select {
	case <-in.Ready():
	default:
		t.Fatal("not ready on an aged window: it would wait forever for an envelope")
	}
}
