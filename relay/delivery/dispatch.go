package delivery

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Delivered is a message as a consumer hands it out: a JetStream message,
// or one pulled over the HTTP API by an agent.
type Delivered interface {
	Data() []byte
	Headers() nats.Header
	Subject() string
	Metadata() (*jetstream.MsgMetadata, error)
	Ack() error
	NakWithDelay(delay time.Duration) error
	TermWithReason(reason string) error
	InProgress() error
}

// Source hands out up to max messages, waiting up to wait for the first.
// It must not buffer more than it returns: the dispatcher takes over each
// message's ack timer as soon as it has it.
type Source interface {
	Fetch(ctx context.Context, max int, wait time.Duration) ([]Delivered, error)
}

// GateStore keeps, per item, the sequence of a delivery that failed and is
// waiting for its retry (and when the retry is due), so that after a
// restart the item's later events still wait behind it.
type GateStore interface {
	Load(ctx context.Context) (map[events.Key]Gate, error)
	Save(ctx context.Context, k events.Key, g Gate) error
	Clear(ctx context.Context, k events.Key) error
}

// Gate is one item's failed delivery waiting for its retry.
type Gate struct {
	Seq uint64    `json:"seq"`
	Due time.Time `json:"due"`
}

// DefaultBackoff is the webhook retry schedule (Standard Webhooks style):
// ten retries over about two days.
var DefaultBackoff = []time.Duration{5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute,
	30 * time.Minute, time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour}

// DispatchConfig tunes a [Dispatcher].
type DispatchConfig struct {
	// Concurrency is how many items are delivered at once. Events of one
	// item are always delivered one at a time, in stream order.
	Concurrency int
	// Backoff is the retry schedule; after len(Backoff) retries the event
	// is dead-lettered.
	Backoff []time.Duration
	// AckWait of the consumer: held messages are kept alive well within it.
	AckWait time.Duration
	// HoldPerItem bounds the events kept in memory behind one item's
	// failing delivery; more are handed back to JetStream until it passes.
	HoldPerItem int
	// MaxInMemory bounds all messages held at once.
	MaxInMemory int
	// BreakerThreshold consecutive failures open the circuit for
	// BreakerCooldown (doubling up to BreakerMaxCooldown while probes fail).
	BreakerThreshold   int
	BreakerCooldown    time.Duration
	BreakerMaxCooldown time.Duration
	// Dead keeps a copy of a message before it is terminated. If it fails,
	// the message is retried instead of being terminated.
	Dead func(ctx context.Context, m relay.Message, reason string) error
	// Gone is called when the receiver says it is gone; the dispatcher then
	// stops (the caller pauses delivery).
	Gone func(ctx context.Context, err error)
	// Report is told of every outcome, for status and metrics.
	Report func(DeliveryStatus)
	// Gates persists failing items' gates (optional).
	Gates GateStore
	Log   zerolog.Logger
}

func (c *DispatchConfig) SetDefaults() {
	if c.Concurrency <= 0 {
		c.Concurrency = 16
	}
	if c.Backoff == nil {
		c.Backoff = DefaultBackoff
	}
	if c.AckWait <= 0 {
		c.AckWait = 30 * time.Second
	}
	if c.HoldPerItem <= 0 {
		c.HoldPerItem = 256
	}
	if c.MaxInMemory <= 0 {
		c.MaxInMemory = max(4096, 4*c.Concurrency)
	}
	if c.BreakerThreshold <= 0 {
		c.BreakerThreshold = 10
	}
	if c.BreakerCooldown <= 0 {
		c.BreakerCooldown = 5 * time.Second
	}
	if c.BreakerMaxCooldown <= 0 {
		c.BreakerMaxCooldown = 5 * time.Minute
	}
	if c.Dead == nil {
		c.Dead = func(context.Context, relay.Message, string) error { return nil }
	}
}

// Dispatcher delivers a consumer's messages to a Sink: items in parallel,
// each item strictly in stream order, retries through NakWithDelay on a
// schedule with jitter, a circuit breaker for the receiver, and every
// message it holds kept alive with InProgress so that no ack timer runs out
// in a buffer.
type Dispatcher struct {
	cfg  DispatchConfig
	sink relay.Sink
	src  Source
	log  zerolog.Logger

	mu       sync.Mutex
	items    map[events.Key]*itemQueue
	inMemory int
	room     chan struct{}
	runnable chan *itemQueue
	parks    map[uint64]int
	breaker  *breaker
	gone     bool
}

// itemQueue is one item's gate: its events in stream order, at most one in
// delivery, none while an earlier one waits for its retry.
type itemQueue struct {
	key     events.Key
	msgs    []*entry // sorted by seq; msgs[0] is next
	busy    bool     // a worker is delivering msgs[0]
	waitSeq uint64   // a failed delivery waiting in JetStream for its retry
	waitDue time.Time
	parked  []uint64 // sorted seqs handed back because the hold was full
	queued  bool     // in the runnable channel
	stored  bool     // a gate of this item is in the GateStore
}

type entry struct {
	d   Delivered
	msg relay.Message
}

// NewDispatcher prepares a dispatcher; Run starts it.
func NewDispatcher(cfg DispatchConfig, sink relay.Sink, src Source) *Dispatcher {
	cfg.SetDefaults()
	return &Dispatcher{
		cfg: cfg, sink: sink, src: src, log: cfg.Log,
		items:    map[events.Key]*itemQueue{},
		room:     make(chan struct{}, 1),
		runnable: make(chan *itemQueue, cfg.MaxInMemory+cfg.Concurrency),
		parks:    map[uint64]int{},
		breaker:  newBreaker(cfg.BreakerThreshold, cfg.BreakerCooldown, cfg.BreakerMaxCooldown, cfg.Report),
	}
}

// Run delivers until ctx ends or the receiver is gone. Messages it still
// holds are handed back to JetStream at once, so that whoever delivers next
// (a restarted pusher, another relay) need not wait out their ack timers;
// the gates keep each item in order meanwhile.
func (d *Dispatcher) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := d.loadGates(ctx); err != nil {
		return err
	}
	var wg sync.WaitGroup
	for range d.cfg.Concurrency {
		wg.Add(1)
		go func() { defer wg.Done(); d.work(ctx, cancel) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); d.heartbeat(ctx) }()
	err := d.read(ctx)
	cancel()
	wg.Wait()
	d.release()
	if d.isGone() {
		return relay.ErrGone
	}
	return err
}

func (d *Dispatcher) loadGates(ctx context.Context) error {
	if d.cfg.Gates == nil {
		return nil
	}
	gates, err := d.cfg.Gates.Load(ctx)
	if err != nil {
		return fmt.Errorf("load delivery gates: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for k, g := range gates {
		q := d.items[k]
		if q == nil {
			q = &itemQueue{key: k}
			d.items[k] = q
		}
		if q.waitSeq == 0 {
			q.waitSeq, q.waitDue, q.stored = g.Seq, g.Due, true
		}
	}
	return nil
}

// read fetches as many messages as there is room for and hands each to its
// item's gate.
func (d *Dispatcher) read(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		room := d.waitRoom(ctx)
		if room == 0 {
			continue
		}
		msgs, err := d.src.Fetch(ctx, room, 5*time.Second)
		if err != nil && ctx.Err() == nil {
			d.log.Warn().Err(err).Dur("retry_in", backoff).Msg("fetch for delivery failed")
			sleepCtx(ctx, backoff)
			backoff = min(2*backoff, 10*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		if t, ok := d.src.(interface{ TookOver() bool }); ok && len(msgs) > 0 && t.TookOver() {
			if err := d.loadGates(ctx); err != nil {
				d.log.Warn().Err(err).Msg("reload of delivery gates after takeover failed")
			}
		}
		for _, m := range msgs {
			d.accept(ctx, m)
		}
	}
	return nil
}

// waitRoom blocks until the dispatcher may hold more messages and returns
// how many.
func (d *Dispatcher) waitRoom(ctx context.Context) int {
	for {
		d.mu.Lock()
		room := d.cfg.MaxInMemory - d.inMemory
		open := d.breaker.allowsFetch()
		d.mu.Unlock()
		if room > 0 && open {
			return min(room, relay.MaxPull)
		}
		select {
		case <-d.room:
		case <-time.After(time.Second):
		case <-ctx.Done():
			return 0
		}
	}
}

func (d *Dispatcher) signalRoom() {
	select {
	case d.room <- struct{}{}:
	default:
	}
}

// accept places one fetched message in its item's gate.
func (d *Dispatcher) accept(ctx context.Context, m Delivered) {
	msg, err := messageOf(m)
	if err != nil {
		d.log.Error().Err(err).Str("subject", m.Subject()).Msg("undeliverable message terminated")
		_ = m.TermWithReason("unreadable: " + err.Error())
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	q := d.items[msg.Key]
	if q == nil {
		q = &itemQueue{key: msg.Key}
		d.items[msg.Key] = q
	}
	msg.Attempt -= d.parks[msg.Seq]
	if i, ok := q.find(msg.Seq); ok {
		q.msgs[i].d, q.msgs[i].msg = m, msg // redelivered while held: keep the newest handle
		return
	}
	switch {
	case msg.Seq == q.waitSeq:
		q.waitSeq = 0
	case q.removeParked(msg.Seq):
	case len(q.msgs) >= d.cfg.HoldPerItem && msg.Seq > q.msgs[len(q.msgs)-1].msg.Seq:
		d.park(ctx, q, m, msg.Seq)
		return
	}
	q.insert(&entry{d: m, msg: msg})
	d.inMemory++
	d.schedule(q)
}

// park hands a message back to JetStream because its item already holds
// too many; it comes back when the item should have moved on.
func (d *Dispatcher) park(ctx context.Context, q *itemQueue, m Delivered, seq uint64) {
	d.parks[seq]++
	q.parked = insertSeq(q.parked, seq)
	_ = m.NakWithDelay(d.cfg.Backoff[0] + time.Duration(len(q.parked))*time.Millisecond)
	d.log.Debug().Uint64("stream_seq", seq).Msg("delivery parked behind its item")
}

// schedule marks q runnable when its next message may go. Lock held.
func (d *Dispatcher) schedule(q *itemQueue) {
	if q.queued || q.busy || q.waitSeq != 0 || len(q.msgs) == 0 {
		return
	}
	if len(q.parked) > 0 && q.parked[0] < q.msgs[0].msg.Seq {
		return // an earlier event of the item is still to come back
	}
	q.queued = true
	d.runnable <- q
}

// work delivers the head of each runnable item.
func (d *Dispatcher) work(ctx context.Context, stop context.CancelFunc) {
	for {
		var q *itemQueue
		select {
		case q = <-d.runnable:
		case <-ctx.Done():
			return
		}
		d.mu.Lock()
		q.queued, q.busy = false, true
		e := q.msgs[0]
		d.mu.Unlock()
		if !d.breaker.wait(ctx) {
			d.finish(q, e, keep, time.Time{})
			return
		}
		o, due := d.deliver(ctx, stop, q, e)
		if d.finish(q, e, o, due) {
			d.clearGate(q.key)
		}
	}
}

// outcome says what became of the head of an item after a delivery.
type outcome int

const (
	done  outcome = iota // acked or terminated: the item moves on
	retry                // naked for later: the item waits for it
	keep                 // still held: try again
)

// deliver makes one attempt; for a retry it also returns when it is due.
func (d *Dispatcher) deliver(ctx context.Context, stop context.CancelFunc, q *itemQueue, e *entry) (outcome, time.Time) {
	err := d.sink.Deliver(ctx, e.msg)
	log := d.log.With().Str("event_id", e.msg.ID).Uint64("stream_seq", e.msg.Seq).Int("delivery_attempt", e.msg.Attempt).Logger()
	switch {
	case err == nil:
		d.breaker.success()
		if aerr := e.d.Ack(); aerr != nil {
			log.Warn().Err(aerr).Msg("ack after delivery failed; the event may be delivered again")
		}
		log.Debug().Msg("delivered")
		return done, time.Time{}
	case ctx.Err() != nil:
		return keep, time.Time{}
	case errors.Is(err, relay.ErrGone):
		d.breaker.failure(err)
		log.Error().Err(err).Msg("receiver is gone; pausing delivery")
		d.setGone(ctx, err)
		stop()
		return keep, time.Time{}
	case errors.Is(err, relay.ErrPermanent):
		d.breaker.success() // the receiver answered: it is up
		return d.kill(ctx, log, e, err.Error())
	}
	d.breaker.failure(err)
	if e.msg.Attempt > len(d.cfg.Backoff) {
		return d.kill(ctx, log, e, fmt.Sprintf("gave up after %d attempts: %v", e.msg.Attempt, err))
	}
	delay := d.retryDelay(e.msg.Attempt, err)
	log.Warn().Err(err).Dur("retry_in", delay).Msg("delivery failed")
	return d.retryLater(ctx, log, e, delay)
}

// retryLater hands a message back to JetStream for a retry after delay;
// the item's gate is saved first, so its later events wait for it even
// across a restart.
func (d *Dispatcher) retryLater(ctx context.Context, log zerolog.Logger, e *entry, delay time.Duration) (outcome, time.Time) {
	due := time.Now().Add(delay)
	d.saveGate(ctx, e.msg.Key, Gate{Seq: e.msg.Seq, Due: due})
	if err := e.d.NakWithDelay(delay); err != nil {
		log.Warn().Err(err).Msg("nak failed; the ack timer will bring the event back")
	}
	return retry, due
}

// kill dead-letters a message, then terminates it.
func (d *Dispatcher) kill(ctx context.Context, log zerolog.Logger, e *entry, reason string) (outcome, time.Time) {
	if err := d.cfg.Dead(ctx, e.msg, reason); err != nil {
		log.Warn().Err(err).Msg("dead letter copy failed; retrying the event instead")
		return d.retryLater(ctx, log, e, d.cfg.Backoff[0])
	}
	if err := e.d.TermWithReason(reason); err != nil {
		log.Warn().Err(err).Msg("terminate failed")
	}
	log.Error().Str("reason", reason).Msg("event dead-lettered")
	return done, time.Time{}
}

// retryDelay follows the schedule with ±20% jitter, or the receiver's
// Retry-After when it asks for longer.
func (d *Dispatcher) retryDelay(attempt int, err error) time.Duration {
	base := d.cfg.Backoff[min(attempt, len(d.cfg.Backoff))-1]
	delay := base + time.Duration((rand.Float64()*0.4-0.2)*float64(base))
	var ra *relay.RetryAfterError
	if errors.As(err, &ra) && ra.After > delay {
		delay = ra.After
	}
	return delay
}

// finish records what became of the head and schedules the item again.
// It reports whether the item is done and its gate can be cleared.
func (d *Dispatcher) finish(q *itemQueue, e *entry, o outcome, due time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	q.busy = false
	if o == done || o == retry {
		q.msgs = q.msgs[1:]
		d.inMemory--
		delete(d.parks, e.msg.Seq)
		d.signalRoom()
	}
	if o == retry {
		q.waitSeq, q.waitDue, q.stored = e.msg.Seq, due, d.cfg.Gates != nil
	} else if o == done && q.waitSeq == 0 && len(q.msgs) == 0 && len(q.parked) == 0 {
		delete(d.items, q.key)
		return q.stored // only a stored gate costs a write to clear
	}
	d.schedule(q)
	return false
}

func (d *Dispatcher) saveGate(ctx context.Context, k events.Key, g Gate) {
	if d.cfg.Gates == nil {
		return
	}
	if err := d.cfg.Gates.Save(ctx, k, g); err != nil {
		d.log.Warn().Err(err).Msg("save delivery gate")
	}
}

func (d *Dispatcher) clearGate(k events.Key) {
	if d.cfg.Gates == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.cfg.Gates.Clear(ctx, k); err != nil {
		d.log.Warn().Err(err).Msg("clear delivery gate")
	}
}

// expireGates opens gates whose failed delivery should long have come back
// (it was acked before a crash, or its item's gate outlived it): an item
// must never wait forever for a sequence that will not return.
func (d *Dispatcher) expireGates() {
	margin := 2*d.cfg.AckWait + time.Minute
	var stale []events.Key
	d.mu.Lock()
	for k, q := range d.items {
		if q.waitSeq != 0 && !q.waitDue.IsZero() && time.Since(q.waitDue) > margin {
			d.log.Warn().Uint64("stream_seq", q.waitSeq).Msg("delivery gate expired; the item moves on")
			q.waitSeq = 0
			d.schedule(q)
			if len(q.msgs) == 0 && !q.busy {
				delete(d.items, k)
				if q.stored {
					stale = append(stale, k)
				}
			}
		}
	}
	d.mu.Unlock()
	for _, k := range stale {
		d.clearGate(k)
	}
}

// heartbeat keeps every held message's ack timer from running out.
func (d *Dispatcher) heartbeat(ctx context.Context) {
	every := max(d.cfg.AckWait/3, 50*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
		for _, m := range d.held() {
			_ = m.InProgress()
		}
		d.expireGates()
	}
}

func (d *Dispatcher) held() []Delivered {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]Delivered, 0, d.inMemory)
	for _, q := range d.items {
		for _, e := range q.msgs {
			out = append(out, e.d)
		}
	}
	return out
}

// release hands every held message back, in stream order per item.
func (d *Dispatcher) release() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, q := range d.items {
		for _, e := range q.msgs {
			_ = e.d.NakWithDelay(0)
		}
		q.msgs = nil
	}
	d.inMemory = 0
}

func (d *Dispatcher) setGone(ctx context.Context, err error) {
	d.mu.Lock()
	first := !d.gone
	d.gone = true
	d.mu.Unlock()
	if first && d.cfg.Gone != nil {
		d.cfg.Gone(ctx, err)
	}
}

func (d *Dispatcher) isGone() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.gone
}

func (q *itemQueue) find(seq uint64) (int, bool) {
	return slices.BinarySearchFunc(q.msgs, seq, func(e *entry, s uint64) int {
		switch {
		case e.msg.Seq < s:
			return -1
		case e.msg.Seq > s:
			return 1
		}
		return 0
	})
}

func (q *itemQueue) insert(e *entry) {
	i, _ := q.find(e.msg.Seq)
	if q.busy && i == 0 {
		i = 1 // never displace the message being delivered
	}
	q.msgs = slices.Insert(q.msgs, i, e)
}

func (q *itemQueue) removeParked(seq uint64) bool {
	i, ok := slices.BinarySearch(q.parked, seq)
	if ok {
		q.parked = slices.Delete(q.parked, i, i+1)
	}
	return ok
}

func insertSeq(s []uint64, seq uint64) []uint64 {
	i, ok := slices.BinarySearch(s, seq)
	if ok {
		return s
	}
	return slices.Insert(s, i, seq)
}

// messageOf reads what a Sink needs from a delivered message.
func messageOf(m Delivered) (relay.Message, error) {
	md, err := m.Metadata()
	if err != nil {
		return relay.Message{}, fmt.Errorf("metadata: %w", err)
	}
	k, err := relay.KeyOfSubject(m.Subject())
	if err != nil {
		return relay.Message{}, err
	}
	h := m.Headers()
	id := h.Get(relay.HeaderEventID)
	if id == "" {
		id = relay.EventIDOf(m.Data())
	}
	return relay.Message{ID: id, Type: h.Get(relay.HeaderType), Key: k, Body: m.Data(),
		Attempt: int(md.NumDelivered), Replay: h.Get(relay.HeaderReplay) != "", Redriven: h.Get(relay.HeaderRedriven) != "",
		Seq: md.Sequence.Stream, Subject: m.Subject(), Flags: relay.FlagsOf(h), Stored: relay.StoredOf(h)}, nil
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
}
