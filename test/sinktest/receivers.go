package sinktest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/billrelay/billrelay/relay"
)

// Outcome is how a receiver answers one attempt.
type Outcome int

const (
	OK     Outcome = iota // delivered
	Fail                  // a retryable failure (HTTP 500, a non-zero exit)
	Reject                // a permanent failure (HTTP 422, the term exit code)
	Gone                  // gone for good (HTTP 410); only with Features.Gone
	Busy                  // retry in an hour (HTTP 429, Retry-After: 3600); only with Features.RetryAfter
)

// busyFor is what a Busy receiver asks for.
const busyFor = time.Hour

// Attempt is one delivery the receiver saw.
type Attempt struct {
	EventID string
	Item    string // when the body is the event itself
	N       int    // per event, from 1
	Outcome Outcome
	// Verified: the receiver checked the request (its signature) and it
	// passed.
	Verified bool
}

// Receiver is the far end of a sink under test.
type Receiver interface {
	// Script decides each attempt's outcome.
	Script(func(Attempt) Outcome)
	// Attempts lists every attempt seen, in order.
	Attempts() []Attempt
	// Changed is signalled after every attempt.
	Changed() <-chan struct{}
}

// recorder is the Receiver logic shared by every kind of receiver.
type recorder struct {
	mu       sync.Mutex
	script   func(Attempt) Outcome
	attempts []Attempt
	counts   map[string]int
	changed  chan struct{}
}

func newRecorder() *recorder {
	return &recorder{script: func(Attempt) Outcome { return OK }, counts: map[string]int{}, changed: make(chan struct{})}
}

func (r *recorder) Script(f func(Attempt) Outcome) {
	r.mu.Lock()
	r.script = f
	r.mu.Unlock()
}

func (r *recorder) Attempts() []Attempt {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Attempt(nil), r.attempts...)
}

func (r *recorder) Changed() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.changed
}

// record decides and logs one attempt of the event in body.
func (r *recorder) record(id string, body []byte, verified bool) Outcome {
	var e struct {
		ID   string `json:"id"`
		Item string `json:"item"`
	}
	_ = json.Unmarshal(body, &e)
	if id == "" {
		id = e.ID
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counts[id]++
	a := Attempt{EventID: id, Item: e.Item, N: r.counts[id], Verified: verified}
	a.Outcome = r.script(a)
	r.attempts = append(r.attempts, a)
	close(r.changed)
	r.changed = make(chan struct{})
	return a.Outcome
}

// HTTPReceiver is a real HTTP server on 127.0.0.1 answering 200, 500,
// 422, 410 or 429 (see [Outcome]). check, when set, inspects every
// request (e.g. verifies its signature); attempts that pass it are
// Verified.
func HTTPReceiver(t *testing.T, check func(r *http.Request, body []byte) error) (string, Receiver) {
	rec := newRecorder()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if check != nil {
			if err := check(r, body); err != nil {
				t.Errorf("receiver check: %v", err)
				w.WriteHeader(http.StatusBadRequest)
				return
			}
		}
		answerHTTP(w, rec.record(r.Header.Get("webhook-id"), body, check != nil))
	}))
	t.Cleanup(srv.Close)
	return srv.URL, rec
}

// answerHTTP answers an attempt the way HTTP receivers say o.
func answerHTTP(w http.ResponseWriter, o Outcome) {
	switch o {
	case OK:
		w.WriteHeader(http.StatusOK)
	case Fail:
		w.WriteHeader(http.StatusInternalServerError)
	case Reject:
		w.WriteHeader(http.StatusUnprocessableEntity)
		fmt.Fprint(w, `{"error":"unknown item"}`)
	case Gone:
		w.WriteHeader(http.StatusGone)
	case Busy:
		w.Header().Set("Retry-After", strconv.Itoa(int(busyFor/time.Second)))
		w.WriteHeader(http.StatusTooManyRequests)
	}
}

// DirectReceiver is a sink that is its own receiver: for a way out whose
// far end is code in the same process, such as a reseller's puller, so
// that the suite checks what carries the events rather than a protocol.
func DirectReceiver() (relay.Sink, Receiver) {
	rec := newRecorder()
	return directSink{rec}, rec
}

type directSink struct{ rec *recorder }

func (s directSink) Deliver(ctx context.Context, m relay.Message) error {
	if err := ctx.Err(); err != nil {
		return err // as a request or a command would: never sent
	}
	switch s.rec.record(m.ID, m.Body, false) {
	case Fail:
		return errors.New("receiver failed")
	case Reject:
		return fmt.Errorf("%w: unknown item", relay.ErrPermanent)
	case Gone:
		return fmt.Errorf("%w: receiver gone", relay.ErrGone)
	case Busy:
		return &relay.RetryAfterError{After: busyFor, Err: errors.New("receiver busy")}
	}
	return nil
}

// TermExitCode is the exit code command receivers use for Reject.
const TermExitCode = 3

const oracleEnv = "SINKTEST_ORACLE"

// CommandReceiver returns a shell command that acts as a receiver: it is
// the test binary itself, run through [CommandHelper], asking this process
// (an HTTP oracle on 127.0.0.1) what to answer. The command is a real
// process that reads the event on stdin and exits with 0, 1 or
// TermExitCode.
func CommandReceiver(t *testing.T, helperTest string) (string, Receiver) {
	rec := newRecorder()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprint(w, int(rec.record(r.Header.Get("X-Event-Id"), body, false)))
	}))
	t.Cleanup(srv.Close)
	t.Setenv(oracleEnv, srv.URL)
	return fmt.Sprintf("%s -test.run='^%s$'", os.Args[0], helperTest), rec
}

// CommandHelper is the body of the helper test named to CommandReceiver:
// run as a command, it forwards the event to the oracle and exits as told;
// in a normal test run it does nothing.
func CommandHelper() {
	oracle := os.Getenv(oracleEnv)
	if oracle == "" || os.Getenv("BILLRELAY_EVENT_ID") == "" {
		return
	}
	body, _ := io.ReadAll(os.Stdin)
	req, _ := http.NewRequest(http.MethodPost, oracle, bytes.NewReader(body))
	req.Header.Set("X-Event-Id", os.Getenv("BILLRELAY_EVENT_ID"))
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		os.Exit(1)
	}
	out, _ := io.ReadAll(resp.Body)
	switch n, _ := strconv.Atoi(string(out)); Outcome(n) {
	case OK:
		os.Exit(0)
	case Reject:
		fmt.Fprintln(os.Stderr, "unknown item")
		os.Exit(TermExitCode)
	default:
		fmt.Fprintln(os.Stderr, "billing node busy")
		os.Exit(1)
	}
}
