package relay

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
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/time/rate"
)

// The receipt intake takes the receipts an agent publishes over NATS
// (receipts.> in the reseller's account, imported as
// $BR.RECEIPTS.<reseller id>). The reseller is the subject's last token,
// which only that reseller's account can publish to; nothing in the
// payload may name another consumer. A receipt is journaled only after the
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
	r       *Relay
	mu      sync.Mutex
	limits  map[string]*intakeLimits
	taken   twoGenerations // receipts journaled lately: a repeat is not stored again
	timeout time.Duration
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

// intakeLimits are one reseller's receipt rate and the rate of log lines
// about its refused receipts (a flood must not flood the log).
type intakeLimits struct{ receipts, logs *rate.Limiter }

func (r *Relay) startReceiptIntake() error {
	in := &receiptIntake{r: r, limits: map[string]*intakeLimits{}, timeout: 5 * time.Second,
		taken: twoGenerations{cur: map[string]struct{}{}, max: 100_000}}
	sub, err := r.nc.Subscribe(receiptIntakePrefix+".*", in.handle)
	if err != nil {
		return fmt.Errorf("subscribe to the receipt intake: %w", err)
	}
	// A slow lookup must not let one tenant's flood grow the client's
	// buffer without bound: the excess is dropped by NATS as a slow
	// consumer, which is a refusal too.
	if err := sub.SetPendingLimits(10_000, 16<<20); err != nil {
		return fmt.Errorf("receipt intake limits: %w", err)
	}
	return nil
}

func (in *receiptIntake) handle(m *nats.Msg) {
	reseller := m.Subject[len(receiptIntakePrefix)+1:]
	lim := in.limitsOf(reseller)
	ctx, cancel := context.WithTimeout(in.r.bg, in.timeout)
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
func (in *receiptIntake) firstOf(rc Receipt) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.taken.addNew(rc.Stream + "/" + rc.Consumer + "/" + strconv.FormatUint(rc.Seq, 10) + "/" + rc.Action)
}

func (in *receiptIntake) limitsOf(reseller string) *intakeLimits {
	in.mu.Lock()
	defer in.mu.Unlock()
	l := in.limits[reseller]
	if l == nil {
		l = &intakeLimits{receipts: rate.NewLimiter(receiptRate, receiptBurst), logs: rate.NewLimiter(1, 5)}
		in.limits[reseller] = l
	}
	return l
}

// check turns a published receipt into the one the relay journals: the
// stream and consumer are the reseller's own, and the item, type and state
// come from the stored delivery, not from the payload.
func (in *receiptIntake) check(ctx context.Context, reseller string, lim *intakeLimits, data []byte) (Receipt, error) {
	if len(data) > maxReceiptBytes {
		return Receipt{}, refusal(refusedSize, "%d bytes, at most %d", len(data), maxReceiptBytes)
	}
	if !lim.receipts.Allow() {
		return Receipt{}, refusal(refusedRate, "more than %d receipts/s", receiptRate)
	}
	sent, err := parseReceipt(data)
	if err != nil {
		return Receipt{}, err
	}
	rs, ok := in.r.reg.reseller(reseller)
	if !ok {
		return Receipt{}, refusal(refusedForeign, "reseller %q is not registered", reseller)
	}
	stream := rs.DeliveryStream()
	if (sent.Stream != "" && sent.Stream != stream) || (sent.Consumer != "" && sent.Consumer != reseller) {
		return Receipt{}, refusal(refusedForeign, "names consumer %s/%s", sent.Stream, sent.Consumer)
	}
	stored, err := in.r.getMsg(ctx, stream, sent.Seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return Receipt{}, refusal(refusedUnknown, "no message %d on %s", sent.Seq, stream)
	}
	if err != nil {
		return Receipt{}, refusal(refusedLookup, "%v", err)
	}
	if !strings.HasPrefix(stored.Subject, events.DeliverPrefix+"."+reseller+".") || stored.Header.Get(HeaderEventID) != sent.EventID {
		return Receipt{}, refusal(refusedForeign, "message %d is not a delivery of event %q to %s", sent.Seq, sent.EventID, reseller)
	}
	rc := receiptOf(stream, reseller, sent.Seq, stored.Subject, stored.Header)
	rc.Action, rc.Reason, rc.Time = sent.Action, sent.Reason, time.Now().UTC()
	return rc, nil
}

// parseReceipt reads what an agent sends: a receipt of one delivery by its
// stream sequence, applied or rejected.
func parseReceipt(data []byte) (Receipt, error) {
	var rc Receipt
	if err := json.Unmarshal(data, &rc); err != nil {
		return Receipt{}, refusal(refusedFormat, "not a receipt: %v", err)
	}
	switch {
	case rc.Seq == 0:
		return Receipt{}, refusal(refusedFormat, "seq: required")
	case rc.EventID == "" || len(rc.EventID) > events.MaxTokenLen:
		return Receipt{}, refusal(refusedFormat, "event_id: 1 to %d bytes", events.MaxTokenLen)
	case rc.Action != ActionApplied && rc.Action != ActionRejected:
		return Receipt{}, refusal(refusedFormat, "action: %q is neither %s nor %s", rc.Action, ActionApplied, ActionRejected)
	}
	if rc.Action == ActionRejected {
		rc.Reason = clipReason(rc.Reason)
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
	in.r.metrics.receiptsRefused.WithLabelValues(reason).Inc()
	if lim.logs.Allow() {
		in.r.log.Warn().Str("reseller_id", reseller).Str("reason", reason).Err(err).
			Msg("receipt over nats refused, not applied")
	}
}
