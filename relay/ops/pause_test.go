package ops

import (
	"errors"
	"slices"
	"testing"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/registry"
	"github.com/nats-io/nats.go/jetstream"
)

// addConsumer makes an endpoint's durable consumer as relay/store does.
func (d *desk) addConsumer(t *testing.T, ep relay.Destination) jetstream.Consumer {
	t.Helper()
	c, err := d.js.CreateOrUpdateConsumer(testContext(t), ep.Stream, d.streams.ConsumerConfig(ep))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func paused(t *testing.T, c jetstream.Consumer) bool {
	t.Helper()
	info, err := c.Info(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	return info.Paused
}

// TestPauseAndResumeAReseller: a pause stops the consumer, is recorded on
// the reseller's record with its reason, raises an ops event and an audit
// entry; resume undoes each.
func TestPauseAndResumeAReseller(t *testing.T) {
	d := newDesk(t)
	ctx := testContext(t)
	rs, _ := d.dir.Reseller("res-a")
	c := d.addConsumer(t, registry.ResellerEndpoint(rs))
	if err := d.Pause(WithActor(ctx, "alice"), "res-a", "maintenance"); err != nil {
		t.Fatal(err)
	}
	if rs, _ = d.dir.Reseller("res-a"); !paused(t, c) || !rs.Paused || rs.PauseReason != "maintenance" {
		t.Fatalf("after Pause: consumer paused %v, record %+v", paused(t, c), rs)
	}
	if err := d.Resume(ctx, "res-a"); err != nil {
		t.Fatal(err)
	}
	if rs, _ = d.dir.Reseller("res-a"); paused(t, c) || rs.Paused || rs.PauseReason != "" {
		t.Fatalf("after Resume: consumer paused %v, record %+v", paused(t, c), rs)
	}
	evs, err := d.trail.OpsEvents(ctx, 10)
	if err != nil || len(evs) != 2 || evs[0].Type != relay.OpsResellerPaused || evs[0].Data["reason"] != "maintenance" || evs[1].Type != relay.OpsResellerResumed {
		t.Fatalf("ops events %+v %v", evs, err)
	}
	want := []string{"pause reseller/res-a by alice", "resume reseller/res-a by relay"}
	if got := d.auditActions(t); !slices.Equal(got, want) {
		t.Fatalf("audit %q, want %q", got, want)
	}
}

// TestPauseASellerEndpoint: the pushers pause a seller whose webhook
// answered 410 and an admin resumes it with ResumeSeller.
func TestPauseASellerEndpoint(t *testing.T) {
	d := newDesk(t)
	ctx := testContext(t)
	s, _ := d.dir.Seller("sell-1")
	ep := registry.SellerEndpoint(s)
	c := d.addConsumer(t, ep)
	if err := d.PauseDestination(ctx, ep, "webhook answered 410 Gone"); err != nil {
		t.Fatal(err)
	}
	if s, _ = d.dir.Seller("sell-1"); !paused(t, c) || !s.Paused {
		t.Fatalf("seller after PauseEndpoint: %+v", s)
	}
	if err := d.ResumeSeller(ctx, "sell-1"); err != nil {
		t.Fatal(err)
	}
	if s, _ = d.dir.Seller("sell-1"); paused(t, c) || s.Paused {
		t.Fatalf("seller after ResumeSeller: %+v", s)
	}
}

// TestPauseUnknownOrWithoutConsumer: an unknown reseller is not found; a
// consumer JetStream does not have fails the pause before the record says
// paused.
func TestPauseUnknownOrWithoutConsumer(t *testing.T) {
	d := newDesk(t)
	ctx := testContext(t)
	if err := d.Pause(ctx, "res-x", "why"); !errors.Is(err, events.ErrNotFound) {
		t.Fatalf("Pause of an unknown reseller: %v", err)
	}
	if err := d.Pause(ctx, "res-b", "why"); err == nil {
		t.Fatal("Pause without a consumer succeeded")
	}
	if rs, _ := d.dir.Reseller("res-b"); rs.Paused {
		t.Fatal("the record says paused though the consumer was not")
	}
}
