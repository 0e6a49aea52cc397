package ingest

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

// Record is one event inside an envelope.
type Record struct {
	Subject string
	MsgID   string
	Header  nats.Header
	Body    []byte
}

// RecordOf reads a message built by eventMsg into a record.
func RecordOf(m *nats.Msg) Record {
	return Record{Subject: m.Subject, MsgID: m.Header.Get(jetstream.MsgIDHeader), Header: m.Header, Body: m.Data}
}

// Msg turns a record back into the message to store.
func (rec Record) Msg() *nats.Msg {
	m := nats.NewMsg(rec.Subject)
	m.Data = rec.Body
	for k, vs := range rec.Header {
		for _, v := range vs {
			m.Header.Add(k, v)
		}
	}
	m.Header.Set(jetstream.MsgIDHeader, rec.MsgID)
	return m
}

func (rec Record) size() int {
	n := len(rec.Subject) + len(rec.MsgID) + len(rec.Body) + 16
	for k, vs := range rec.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

func EncodeEnvelope(recs []Record) []byte {
	size := 1
	for _, r := range recs {
		size += r.size()
	}
	b := make([]byte, 0, size)
	b = append(b, envelopeV1)
	for _, r := range recs {
		b = appendString(b, r.Subject)
		b = appendString(b, r.MsgID)
		n := 0
		for k, vs := range r.Header {
			if k != jetstream.MsgIDHeader {
				n += len(vs)
			}
		}
		b = binary.AppendUvarint(b, uint64(n))
		for k, vs := range r.Header {
			if k == jetstream.MsgIDHeader {
				continue // carried as msgID
			}
			for _, v := range vs {
				b = appendString(b, k)
				b = appendString(b, v)
			}
		}
		b = appendString(b, string(r.Body))
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errEnvelope = errors.New("bad envelope")

// DecodeEnvelope reads an envelope; any corruption is an error, never a
// panic.
func DecodeEnvelope(b []byte) ([]Record, error) {
	if len(b) == 0 || b[0] != envelopeV1 {
		return nil, fmt.Errorf("%w: unknown version", errEnvelope)
	}
	d := decoder{b: b[1:]}
	var out []Record
	for len(d.b) > 0 && d.err == nil {
		r := Record{Subject: d.str(), MsgID: d.str(), Header: nats.Header{}}
		n := d.uvarint()
		for i := uint64(0); i < n && d.err == nil; i++ {
			k := d.str()
			r.Header.Add(k, d.str())
		}
		r.Body = []byte(d.str())
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
