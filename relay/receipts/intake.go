package receipts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/tenancy"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/time/rate"
)

// The receipt intake takes the receipts an agent publishes over NATS
// (receipts.> in the reseller's account, exported as a stream that the
// relay's account imports as $BR.RECEIPTS.<reseller id>.receipts.>). The
// reseller is the one whose subscription received it: only that
// reseller's account can reach it; nothing in the payload may name
// another consumer. A receipt is journaled only after the
// relay read the delivery it speaks of and found it the reseller's own,
// with the same event id, so a receipt can neither settle nor describe
// another tenant's events (the restart filter settles what RECEIPTS says).
// Each reseller is held to a rate, and whatever is refused is dropped,
// counted and logged, never applied.
const (
	// maxReceiptBytes bounds one receipt; a real one is ~300 B.
	maxReceiptBytes = 4 << 10
	// receiptRate and receiptBurst bound one reseller's receipts per
	// second: well above what an agent settles, far below what fills a
	// store.
	receiptRate  = 1000
	receiptBurst = 2000
)

// Why a receipt was refused (the reason label of
// billrelay_receipts_refused_total and the log's reason field).
const (
	refusedSize    = "too_large"
	refusedRate    = "rate"
	refusedFormat  = "malformed"
	refusedForeign = "foreign_consumer"
	refusedUnknown = "unknown_delivery"
	refusedLookup  = "lookup_failed"
	refusedRepeat  = "repeat"
)

var errReceiptRefused = errors.New("receipt refused")

type receiptIntake struct {
	r       *Receipts
	mu      sync.Mutex
	limits  map[string]*intakeLimits
	taken   twoGenerations // receipts journaled lately: a repeat is not stored again
	timeout time.Duration
	subs    map[string][]*nats.Subscription // reseller → its receipt and info subscriptions
	info    infoCache
}

// twoGenerations is a bounded set: when the newer generation is full it
// becomes the older one, and the oldest is forgotten.
type twoGenerations struct {
	cur, old map[string]struct{}
	max      int
}

func (g *twoGenerations) addNew(k string) bool {
	if _, ok := g.cur[k]; ok {
		return false
	}
	if _, ok := g.old[k]; ok {
		return false
	}
	if len(g.cur) >= g.max {
		g.old, g.cur = g.cur, map[string]struct{}{}
	}
	g.cur[k] = struct{}{}
	return true
}

// intakeLimits are one reseller's receipt and info request rates, and the
// rate of log lines about what it sent and was refused (a flood must not
// flood the log).
type intakeLimits struct{ receipts, info, logs *rate.Limiter }

// Per-reseller queues of the intake: a flood fills its sender's queue
// (the excess is dropped as a slow consumer, a refusal too), never
// another reseller's.
const (
	intakePendingMsgs  = 2000
	intakePendingBytes = 1 << 20
	// intakeQueue makes relays on one cluster share the work: each
	// receipt is checked and journaled by one of them.
	intakeQueue = "billrelay-intake"
)

// Intake is the part that takes receipts resellers publish over NATS
// (each from its own account's stream export) and answers their consumer
// info requests: Open subscribes every reseller, Run follows the registry,
// and Resubscribe is called by the tenancy once a reseller's account is
// imported anew.
type Intake struct{ in *receiptIntake }

// Intake makes the intake part.
func (r *Receipts) Intake() Intake {
	return Intake{&receiptIntake{r: r, limits: map[string]*intakeLimits{}, timeout: 5 * time.Second,
		taken: twoGenerations{cur: map[string]struct{}{}, max: 100_000}, subs: map[string][]*nats.Subscription{},
		info: infoCache{m: map[string]cachedInfo{}}}}
}

// Open subscribes the intake of every registered reseller.
func (i Intake) Open(ctx context.Context) error { return i.in.sync(ctx) }

// Run follows the registry until ctx ends.
func (i Intake) Run(ctx context.Context) error { return i.in.run(ctx) }

// Resubscribe makes a reseller's subscriptions again.
func (i Intake) Resubscribe(reseller string) { i.in.resubscribe(reseller) }

// resubscribe makes a reseller's intake subscriptions again, after its
// account's imports were set up, and waits until the server has them.
func (in *receiptIntake) resubscribe(reseller string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	unsubscribe(in.subs[reseller])
	delete(in.subs, reseller)
	subs, err := in.subscribe(reseller)
	if err == nil {
		err = in.r.nc.Flush()
	}
	if err != nil {
		in.r.log.Error().Err(err).Str("reseller_id", reseller).Msg("reseller intake not subscribed; the next registry change retries")
		return
	}
	in.subs[reseller] = subs
}

// run keeps one subscription per registered reseller for its receipts and
// one for its info requests, following the registry.
func (in *receiptIntake) run(ctx context.Context) error {
	defer in.unsubscribeAll()
	for {
		changed := in.r.reg.Changes()
		if err := in.sync(ctx); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
	}
}

func (in *receiptIntake) sync(context.Context) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	registered := map[string]bool{}
	for _, rs := range in.r.reg.AllResellers() {
		registered[rs.ID] = true
		if in.subs[rs.ID] != nil {
			continue
		}
		subs, err := in.subscribe(rs.ID)
		if err != nil {
			return err
		}
		in.subs[rs.ID] = subs
	}
	for id, subs := range in.subs {
		if !registered[id] {
			unsubscribe(subs)
			delete(in.subs, id)
		}
	}
	return nil
}

func (in *receiptIntake) subscribe(reseller string) ([]*nats.Subscription, error) {
	var subs []*nats.Subscription
	for subj, h := range map[string]nats.MsgHandler{
		tenancy.ReceiptIntakePrefix + "." + reseller + ".>": func(m *nats.Msg) { in.handle(reseller, m) },
		tenancy.InfoIntakePrefix + "." + reseller:           func(m *nats.Msg) { in.answerInfo(reseller, m) },
	} {
		sub, err := in.r.nc.QueueSubscribe(subj, intakeQueue, h)
		if err == nil {
			err = sub.SetPendingLimits(intakePendingMsgs, intakePendingBytes)
		}
		if err != nil {
			unsubscribe(append(subs, sub))
			return nil, fmt.Errorf("intake of %s: %w", reseller, err)
		}
		subs = append(subs, sub)
	}
	return subs, nil
}

func unsubscribe(subs []*nats.Subscription) {
	for _, s := range subs {
		if s != nil {
			_ = s.Unsubscribe()
		}
	}
}

func (in *receiptIntake) unsubscribeAll() {
	in.mu.Lock()
	defer in.mu.Unlock()
	for id, subs := range in.subs {
		unsubscribe(subs)
		delete(in.subs, id)
	}
}

func (in *receiptIntake) handle(reseller string, m *nats.Msg) {
	lim := in.limitsOf(reseller)
	ctx, cancel := context.WithTimeout(context.Background(), in.timeout)
	defer cancel()
	rc, err := in.check(ctx, reseller, lim, m.Data)
	if err == nil && !in.firstOf(rc) {
		err = refusal(refusedRepeat, "delivery %d was already %s", rc.Seq, rc.Action)
	}
	if err != nil {
		in.refuse(reseller, lim, err)
		return
	}
	in.r.rw.note(rc)
}

// firstOf reports whether rc is the first receipt of its delivery and
// action lately: a reseller repeating one receipt must not grow RECEIPTS.
func (in *receiptIntake) firstOf(rc relay.Receipt) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.taken.addNew(rc.Stream + "/" + rc.Consumer + "/" + strconv.FormatUint(rc.Seq, 10) + "/" + rc.Action)
}

func (in *receiptIntake) limitsOf(reseller string) *intakeLimits {
	in.mu.Lock()
	defer in.mu.Unlock()
	l := in.limits[reseller]
	if l == nil {
		l = &intakeLimits{receipts: rate.NewLimiter(receiptRate, receiptBurst), info: rate.NewLimiter(infoRate, infoBurst),
			logs: rate.NewLimiter(1, 5)}
		in.limits[reseller] = l
	}
	return l
}

// check turns a published receipt into the one the relay journals: the
// stream and consumer are the reseller's own, and the item, type and state
// come from the stored delivery, not from the payload.
func (in *receiptIntake) check(ctx context.Context, reseller string, lim *intakeLimits, data []byte) (relay.Receipt, error) {
	if len(data) > maxReceiptBytes {
		return relay.Receipt{}, refusal(refusedSize, "%d bytes, at most %d", len(data), maxReceiptBytes)
	}
	if !lim.receipts.Allow() {
		return relay.Receipt{}, refusal(refusedRate, "more than %d receipts/s", receiptRate)
	}
	sent, err := parseReceipt(data)
	if err != nil {
		return relay.Receipt{}, err
	}
	rs, ok := in.r.reg.Reseller(reseller)
	if !ok {
		return relay.Receipt{}, refusal(refusedForeign, "reseller %q is not registered", reseller)
	}
	stream := rs.DeliveryStream()
	if (sent.Stream != "" && sent.Stream != stream) || (sent.Consumer != "" && sent.Consumer != reseller) {
		return relay.Receipt{}, refusal(refusedForeign, "names consumer %s/%s", sent.Stream, sent.Consumer)
	}
	stored, err := in.r.getMsg(ctx, stream, sent.Seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return relay.Receipt{}, refusal(refusedUnknown, "no message %d on %s", sent.Seq, stream)
	}
	if err != nil {
		return relay.Receipt{}, refusal(refusedLookup, "%v", err)
	}
	if !strings.HasPrefix(stored.Subject, events.DeliverPrefix+"."+reseller+".") || stored.Header.Get(relay.HeaderEventID) != sent.EventID {
		return relay.Receipt{}, refusal(refusedForeign, "message %d is not a delivery of event %q to %s", sent.Seq, sent.EventID, reseller)
	}
	rc := ReceiptOf(stream, reseller, sent.Seq, stored.Subject, stored.Header)
	rc.Action, rc.Reason, rc.Time = sent.Action, sent.Reason, time.Now().UTC()
	return rc, nil
}

// parseReceipt reads what an agent sends: a receipt of one delivery by its
// stream sequence, applied or rejected.
func parseReceipt(data []byte) (relay.Receipt, error) {
	var rc relay.Receipt
	if err := json.Unmarshal(data, &rc); err != nil {
		return relay.Receipt{}, refusal(refusedFormat, "not a receipt: %v", err)
	}
	switch {
	case rc.Seq == 0:
		return relay.Receipt{}, refusal(refusedFormat, "seq: required")
	case rc.EventID == "" || len(rc.EventID) > events.MaxTokenLen:
		return relay.Receipt{}, refusal(refusedFormat, "event_id: 1 to %d bytes", events.MaxTokenLen)
	case rc.Action != relay.ActionApplied && rc.Action != relay.ActionRejected:
		return relay.Receipt{}, refusal(refusedFormat, "action: %q is neither %s nor %s", rc.Action, relay.ActionApplied, relay.ActionRejected)
	}
	if rc.Action == relay.ActionRejected {
		rc.Reason = relay.ClipReason(rc.Reason)
	} else {
		rc.Reason = ""
	}
	return rc, nil
}

type intakeRefusal struct{ reason, detail string }

func (e *intakeRefusal) Error() string { return e.reason + ": " + e.detail }
func (e *intakeRefusal) Unwrap() error { return errReceiptRefused }

func refusal(reason, format string, args ...any) error {
	return &intakeRefusal{reason: reason, detail: fmt.Sprintf(format, args...)}
}

func (in *receiptIntake) refuse(reseller string, lim *intakeLimits, err error) {
	reason := refusedLookup
	var ref *intakeRefusal
	if errors.As(err, &ref) {
		reason = ref.reason
	}
	in.r.metrics.ReceiptsRefused.WithLabelValues(reason).Inc()
	if lim.logs.Allow() {
		in.r.log.Warn().Str("reseller_id", reseller).Str("reason", reason).Err(err).
			Msg("receipt over nats refused, not applied")
	}
}
