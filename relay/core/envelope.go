package core

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// An envelope is one INGEST message: every event of one commit group, so
// that a single fsync covers them all (research/perf-groupcommit.md: one
// stored message per group is the cheapest durable write). The router
// expands it into per-event EVENTS and ORDERS messages.
//
// Format (version 1): the byte 1, then per record: subject, message id,
// header count and header name/value pairs, and body, each string as a
// uvarint length and its bytes.

const envelopeV1 = 1

// maxEnvelope bounds one commit group's message.
const maxEnvelope = 4 << 20

// record is one event inside an envelope.
type record struct {
	subject string
	msgID   string
	header  nats.Header
	body    []byte
}

// recordOf reads a message built by eventMsg into a record.
func recordOf(m *nats.Msg) record {
	return record{subject: m.Subject, msgID: m.Header.Get(jetstream.MsgIDHeader), header: m.Header, body: m.Data}
}

// msg turns a record back into the message to store.
func (rec record) msg() *nats.Msg {
	m := nats.NewMsg(rec.subject)
	m.Data = rec.body
	for k, vs := range rec.header {
		for _, v := range vs {
			m.Header.Add(k, v)
		}
	}
	m.Header.Set(jetstream.MsgIDHeader, rec.msgID)
	return m
}

func (rec record) size() int {
	n := len(rec.subject) + len(rec.msgID) + len(rec.body) + 16
	for k, vs := range rec.header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

func encodeEnvelope(recs []record) []byte {
	size := 1
	for _, r := range recs {
		size += r.size()
	}
	b := make([]byte, 0, size)
	b = append(b, envelopeV1)
	for _, r := range recs {
		b = appendString(b, r.subject)
		b = appendString(b, r.msgID)
		n := 0
		for k, vs := range r.header {
			if k != jetstream.MsgIDHeader {
				n += len(vs)
			}
		}
		b = binary.AppendUvarint(b, uint64(n))
		for k, vs := range r.header {
			if k == jetstream.MsgIDHeader {
				continue // carried as msgID
			}
			for _, v := range vs {
				b = appendString(b, k)
				b = appendString(b, v)
			}
		}
		b = appendString(b, string(r.body))
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errEnvelope = errors.New("bad envelope")

// decodeEnvelope reads an envelope; any corruption is an error, never a
// panic.
func decodeEnvelope(b []byte) ([]record, error) {
	if len(b) == 0 || b[0] != envelopeV1 {
		return nil, fmt.Errorf("%w: unknown version", errEnvelope)
	}
	d := decoder{b: b[1:]}
	var out []record
	for len(d.b) > 0 && d.err == nil {
		r := record{subject: d.str(), msgID: d.str(), header: nats.Header{}}
		n := d.uvarint()
		for i := uint64(0); i < n && d.err == nil; i++ {
			k := d.str()
			r.header.Add(k, d.str())
		}
		r.body = []byte(d.str())
		out = append(out, r)
	}
	return out, d.err
}

// decoder reads length-prefixed strings, remembering the first error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = fmt.Errorf("%w: truncated length", errEnvelope)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) str() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.err = fmt.Errorf("%w: string of %d bytes past the end", errEnvelope, n)
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}
