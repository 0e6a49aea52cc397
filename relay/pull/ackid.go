package pull

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay/registry"
	"github.com/billrelay/billrelay/relay/store"
	"github.com/nats-io/nats.go/jetstream"
)

// An ack id is the JetStream ack subject of one delivery and the time the
// relay handed it out, sealed with an HMAC under a key only the relay
// knows. A reseller cannot forge one for a message of another consumer, and
// a valid id names the consumer it belongs to, so a stolen id is refused as
// someone else's, not applied.
//
// The hand-out time is in the id because the ack subject's own timestamp is
// when the event was stored, not when it was delivered: a backlog pulled a
// day late would otherwise read as held for a day. It travels in the id
// (not in the relay's memory) so that any relay of a cluster, or the same
// relay after a restart, judges it the same way, up to their clock skew.
//
// Form: base64url(reply) "." base64url(handed-out Unix ns, 8 bytes big
// endian) "." base64url(mac[:16]), the mac over a version tag, the time and
// the reply. The earlier form, base64url(reply) "." base64url(mac[:16])
// with the mac over the reply alone, still opens: ids handed out before an
// upgrade settle, their hand-out time unknown.

const (
	ackMacLen  = 16
	ackTimeLen = 8
	// ackIDV2Tag starts what the mac of the current form covers: no JetStream
	// subject starts with it, so no mac of one form is valid for the other.
	ackIDV2Tag = "v2\x00"
)

// delivery is what an ack id says about one delivered message.
type ackRef struct {
	reply     string
	stream    string
	consumer  string
	attempt   uint64
	streamSeq uint64
	// handedOut is when a pull handed the delivery out; zero for an id of
	// the earlier form, which did not say.
	handedOut time.Time
}

// sealAckID seals the ack subject of a delivery handed out at handedOut;
// a zero handedOut seals the earlier form.
func (r *Puller) sealAckID(reply string, handedOut time.Time) string {
	body := base64.RawURLEncoding.EncodeToString([]byte(reply))
	if handedOut.IsZero() {
		return body + "." + base64.RawURLEncoding.EncodeToString(r.ackMAC(reply))
	}
	at := binary.BigEndian.AppendUint64(nil, uint64(handedOut.UnixNano()))
	return body + "." + base64.RawURLEncoding.EncodeToString(at) + "." +
		base64.RawURLEncoding.EncodeToString(r.ackMAC(ackIDV2Tag+string(at)+reply))
}

func (r *Puller) ackMAC(sealed string) []byte {
	h := hmac.New(sha256.New, r.ackKey)
	h.Write([]byte(sealed))
	return h.Sum(nil)[:ackMacLen]
}

var ackIDEncoding = base64.RawURLEncoding.Strict()

// errNotAckID marks text that is not an ack id at all.
var errNotAckID = errors.New("not an ack id")

// openAckID checks the seal and reads the delivery back.
func (r *Puller) openAckID(id string) (ackRef, error) {
	parts := strings.Split(id, ".")
	if len(id) > 600 || len(parts) < 2 || len(parts) > 3 || strings.IndexFunc(id, notAckIDRune) >= 0 {
		return ackRef{}, errNotAckID
	}
	// Strict: one id, one spelling. The lenient decoder ignores the unused
	// low bits of the last character, and every decoder skips \r and \n, so
	// a second spelling of a valid id would open too (found by
	// FuzzOpenAckID).
	dec := make([][]byte, len(parts))
	for i, p := range parts {
		b, err := ackIDEncoding.DecodeString(p)
		if err != nil {
			return ackRef{}, errNotAckID
		}
		dec[i] = b
	}
	reply, sum := string(dec[0]), dec[len(dec)-1]
	sealed, handedOut := reply, time.Time{}
	if len(dec) == 3 {
		if len(dec[1]) != ackTimeLen {
			return ackRef{}, errNotAckID
		}
		sealed = ackIDV2Tag + string(dec[1]) + reply
		handedOut = time.Unix(0, int64(binary.BigEndian.Uint64(dec[1])))
	}
	if !hmac.Equal(sum, r.ackMAC(sealed)) {
		return ackRef{}, errNotAckID
	}
	d, err := parseAckReply(reply)
	d.handedOut = handedOut
	return d, err
}

// notAckIDRune is true of a character that base64url and the dots between
// the parts of an id do not use.
func notAckIDRune(c rune) bool {
	return !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.')
}

// parseAckReply reads a JetStream ack subject in its v1 form
// ($JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>) or
// its v2 form, which inserts <domain>.<account hash> after $JS.ACK and may
// append a token. Its <ts> is when the event was stored, which says nothing
// of how long this delivery has been held: the relay does not read it.
func parseAckReply(reply string) (ackRef, error) {
	t := strings.Split(reply, ".")
	if len(t) < 9 || t[0] != "$JS" || t[1] != "ACK" {
		return ackRef{}, errNotAckID
	}
	off := 2
	if len(t) >= 11 {
		off = 4
	}
	attempt, e1 := strconv.ParseUint(t[off+2], 10, 64)
	sseq, e2 := strconv.ParseUint(t[off+3], 10, 64)
	_, e3 := strconv.ParseInt(t[off+5], 10, 64)
	if e1 != nil || e2 != nil || e3 != nil {
		return ackRef{}, errNotAckID
	}
	return ackRef{reply: reply, stream: t[off], consumer: t[off+1], attempt: attempt, streamSeq: sseq}, nil
}

// loadAckKey reads the ack-id key from the registry bucket, creating it on
// first start. It lives in the bucket, not on local disk, so that every
// relay on a cluster accepts every other relay's ack ids.
func (r *Puller) loadAckKey(ctx context.Context) error {
	_, err := r.kv.Create(ctx, registry.KeyAckKey, registry.RandomBytes(32))
	if err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("create ack key: %w", store.Classify(err))
	}
	e, err := r.kv.Get(ctx, registry.KeyAckKey)
	if err != nil {
		return fmt.Errorf("read ack key: %w", store.Classify(err))
	}
	r.ackKey = e.Value()
	return nil
}

// checkAckIDs opens every id of one request for the consumer it must belong
// to. Ids of another consumer (403) win over ids that are not ack ids at all
// (400); either refuses the whole request.
func (r *Puller) checkAckIDs(stream, consumer string, ids []string, fields []string) ([]ackRef, error) {
	out := make([]ackRef, len(ids))
	bad := &events.ValidationError{Kind: events.ErrMalformed}
	foreign := &events.ValidationError{Kind: events.ErrForbidden}
	for i, id := range ids {
		d, err := r.openAckID(id)
		switch {
		case err != nil:
			bad.Add(fields[i], "not an ack id issued by this relay")
		case d.stream != stream || d.consumer != consumer:
			foreign.Add(fields[i], "ack id belongs to another consumer")
		default:
			out[i] = d
		}
	}
	if err := foreign.Err(); err != nil {
		return nil, err
	}
	return out, bad.Err()
}

// LegacyAckID seals the delivery id names the way relays sealed ack ids
// before they stamped the hand-out time in them, as ids still held by
// resellers across an upgrade are; the upgrade tests use it.
func (r *Puller) LegacyAckID(id string) (string, error) {
	d, err := r.openAckID(id)
	if err != nil {
		return "", err
	}
	if d.handedOut.IsZero() {
		return "", fmt.Errorf("%w: already of the earlier form", errNotAckID)
	}
	return r.sealAckID(d.reply, time.Time{}), nil
}
