package bench

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"
)

// reference does the relay's storage work with bare nats.go on its own
// embedded server with the same durability: a stream with message-id
// dedupe, synchronous publishes (or atomic batches), and two durable
// consumers each acking every event.
type reference struct {
	ns     *server.Server
	nc     *nats.Conn
	js     jetstream.JetStream
	nextID atomic.Int64
	body   []byte
}

func startReference(dir string, cfg Config) (*reference, error) {
	ns, err := server.NewServer(&server.Options{JetStream: true, StoreDir: dir, DontListen: true, NoSigs: true,
		SyncAlways: cfg.SyncAlways, SyncInterval: cfg.SyncInterval, JetStreamMaxStore: 16 << 30})
	if err != nil {
		return nil, err
	}
	ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		return nil, fmt.Errorf("reference server not ready")
	}
	nc, err := nats.Connect("", nats.InProcessServer(ns))
	if err != nil {
		return nil, err
	}
	js, _ := jetstream.New(nc)
	_, err = js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "REF", Subjects: []string{"ref.>"},
		Storage: jetstream.FileStorage, Duplicates: time.Hour, AllowAtomicPublish: true})
	if err != nil {
		return nil, err
	}
	body := []byte(`{"specversion":"1.0","id":"bench-0000000","source":"/bench/sell-1","type":"service.state_changed","time":"2026-11-18T08:15:04.123456789Z","seller":"sell-1","account":"acc-e2e","item":"item-123","data":{"state":"active","previous_state":"provisioning","order":"SO-123","message":"service is created"}}`)
	return &reference{ns: ns, nc: nc, js: js, body: body}, nil
}

func (f *reference) close() {
	f.nc.Close()
	f.ns.Shutdown()
	f.ns.WaitForShutdown()
}

func (f *reference) msg(subject string) *nats.Msg {
	m := nats.NewMsg(subject)
	m.Data = f.body
	m.Header.Set(jetstream.MsgIDHeader, "ref-"+strconv.FormatInt(f.nextID.Add(1), 10))
	return m
}

// publish stores single events with a synchronous publish each, or atomic
// batches of batch events, from clients goroutines.
func (f *reference) publish(ctx context.Context, clients, batch int, d time.Duration) Row {
	s, elapsed, err := runFor(ctx, clients, d, func(ctx context.Context) (int, error) {
		if batch == 1 {
			_, err := f.js.PublishMsg(ctx, f.msg("ref.ingest"))
			return 1, err
		}
		msgs := make([]*nats.Msg, batch)
		for i := range msgs {
			msgs[i] = f.msg("ref.ingest")
		}
		_, err := jetstreamext.PublishMsgBatch(ctx, f.js, msgs, jetstreamext.BatchFlowControl{AckFirst: false})
		return batch, err
	})
	name := "bare JetStream sync publish, single events"
	if batch > 1 {
		name = fmt.Sprintf("bare JetStream atomic batch publish of %d", batch)
	}
	return rowOrError(s.row(name, clients, elapsed), err)
}

// asyncPublish is the ceiling the issue measures against: bare async
// publishing with message ids and a 4096 window, on a lazily syncing
// server (JetStream's default), for d.
func asyncPublish(ctx context.Context, dir string, d time.Duration) (Row, error) {
	f, err := startReference(dir, Config{SyncInterval: 2 * time.Minute})
	if err != nil {
		return Row{}, err
	}
	defer f.close()
	js, _ := jetstream.New(f.nc, jetstream.WithPublishAsyncMaxPending(4096))
	s := &sample{}
	start := time.Now()
	deadline := start.Add(d)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		for range 4096 {
			if _, err := js.PublishMsgAsync(f.msg("ref.lazy")); err != nil {
				break
			}
		}
		<-js.PublishAsyncComplete()
		s.add(0, 4096)
	}
	return s.row("bare JetStream async publish, lazy fsync (window 4096)", 1, time.Since(start)), nil
}

// endToEnd publishes single events while two durable consumers fetch and
// ack them; latency runs from publish to ack.
func (f *reference) endToEnd(ctx context.Context, clients int, d time.Duration) Row {
	lat := &sample{}
	var produced atomic.Int64
	var wg sync.WaitGroup
	done := make(chan struct{})
	start := time.Now()
	sent := sync.Map{}
	for _, name := range []string{"ref-a", "ref-b"} {
		c, err := f.js.CreateOrUpdateConsumer(ctx, "REF", jetstream.ConsumerConfig{Durable: name,
			FilterSubject: "ref.e2e", AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Minute})
		if err != nil {
			return Row{Case: "bare JetStream end to end (error: " + err.Error() + ")"}
		}
		wg.Add(1)
		go func() { defer wg.Done(); f.consume(c, lat, &produced, &sent, done) }()
	}
	_, _, err := runFor(ctx, clients, d, func(ctx context.Context) (int, error) {
		m := f.msg("ref.e2e")
		sent.Store(m.Header.Get(jetstream.MsgIDHeader), time.Now())
		if _, err := f.js.PublishMsg(ctx, m); err != nil {
			return 0, err
		}
		produced.Add(1)
		return 1, nil
	})
	close(done)
	wg.Wait()
	return rowOrError(lat.row("bare JetStream end to end, 2 consumers (deliveries)", clients, time.Since(start)), err)
}

func (f *reference) consume(c jetstream.Consumer, lat *sample, produced *atomic.Int64, sent *sync.Map, done <-chan struct{}) {
	var acked atomic.Int64
	cc, err := c.Consume(func(m jetstream.Msg) {
		_ = m.Ack()
		if t0, ok := sent.Load(m.Headers().Get(jetstream.MsgIDHeader)); ok {
			lat.add(time.Since(t0.(time.Time)), 1)
		}
		acked.Add(1)
	})
	if err != nil {
		return
	}
	defer cc.Stop()
	<-done
	deadline := time.Now().Add(60 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for acked.Load() < produced.Load() && time.Now().Before(deadline) {
		<-tick.C
	}
}
