package relay

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/nats-io/nats.go/jetstream"
)

// An ack id is the JetStream ack subject of one delivery, sealed with an
// HMAC under a key only the relay knows. A reseller cannot forge one for a
// message of another consumer, and a valid id names the consumer it belongs
// to, so a stolen id is refused as someone else's, not applied.
//
// Form: base64url(reply) "." base64url(mac[:16]).

const ackMacLen = 16

// delivery is what an ack id says about one delivered message.
type delivery struct {
	reply     string
	stream    string
	consumer  string
	attempt   uint64
	streamSeq uint64
	at        time.Time
}

func (r *Relay) sealAckID(reply string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(reply)) + "." +
		base64.RawURLEncoding.EncodeToString(r.ackMAC(reply))
}

func (r *Relay) ackMAC(reply string) []byte {
	h := hmac.New(sha256.New, r.ackKey)
	h.Write([]byte(reply))
	return h.Sum(nil)[:ackMacLen]
}

var ackIDEncoding = base64.RawURLEncoding.Strict()

// errNotAckID marks text that is not an ack id at all.
var errNotAckID = errors.New("not an ack id")

// openAckID checks the seal and reads the delivery back.
func (r *Relay) openAckID(id string) (delivery, error) {
	body, mac, ok := strings.Cut(id, ".")
	if !ok || len(id) > 512 {
		return delivery{}, errNotAckID
	}
	// Strict: one id, one spelling. The lenient decoder ignores the unused
	// low bits of the last character, so a second spelling of a valid id
	// would open too (found by FuzzOpenAckID).
	reply, err1 := ackIDEncoding.DecodeString(body)
	sum, err2 := ackIDEncoding.DecodeString(mac)
	if err1 != nil || err2 != nil || !hmac.Equal(sum, r.ackMAC(string(reply))) {
		return delivery{}, errNotAckID
	}
	return parseAckReply(string(reply))
}

// parseAckReply reads a JetStream ack subject in its v1 form
// ($JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>) or
// its v2 form, which inserts <domain>.<account hash> after $JS.ACK and may
// append a token.
func parseAckReply(reply string) (delivery, error) {
	t := strings.Split(reply, ".")
	if len(t) < 9 || t[0] != "$JS" || t[1] != "ACK" {
		return delivery{}, errNotAckID
	}
	off := 2
	if len(t) >= 11 {
		off = 4
	}
	attempt, e1 := strconv.ParseUint(t[off+2], 10, 64)
	sseq, e2 := strconv.ParseUint(t[off+3], 10, 64)
	ts, e3 := strconv.ParseInt(t[off+5], 10, 64)
	if e1 != nil || e2 != nil || e3 != nil {
		return delivery{}, errNotAckID
	}
	return delivery{reply: reply, stream: t[off], consumer: t[off+1], attempt: attempt,
		streamSeq: sseq, at: time.Unix(0, ts)}, nil
}

// loadAckKey reads the ack-id key from the registry bucket, creating it on
// first start. It lives in the bucket, not on local disk, so that every
// relay on a cluster accepts every other relay's ack ids.
func (r *Relay) loadAckKey(ctx context.Context) error {
	_, err := r.kv.Create(ctx, keyAckKey, randomBytes(32))
	if err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("create ack key: %w", classify(err))
	}
	e, err := r.kv.Get(ctx, keyAckKey)
	if err != nil {
		return fmt.Errorf("read ack key: %w", classify(err))
	}
	r.ackKey = e.Value()
	return nil
}

// checkAckIDs opens every id of one request for the consumer it must belong
// to. Ids of another consumer (403) win over ids that are not ack ids at all
// (400); either refuses the whole request.
func (r *Relay) checkAckIDs(stream, consumer string, ids []string, fields []string) ([]delivery, error) {
	out := make([]delivery, len(ids))
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
