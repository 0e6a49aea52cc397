package harness

import (
	"bufio"
	"net"
	"strings"
	"sync"
	"testing"
)

// Mail is one message an SMTP sink received.
type Mail struct {
	From string
	To   []string
	Data string
}

// SMTPSink is a minimal SMTP server on 127.0.0.1 that keeps what it
// receives: enough for net/smtp's SendMail (no TLS, no AUTH offered).
type SMTPSink struct {
	Addr    string
	mu      sync.Mutex
	mails   []Mail
	changed chan struct{}
}

// StartSMTP runs a sink until the test ends.
func StartSMTP(t testing.TB) *SMTPSink {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &SMTPSink{Addr: ln.Addr().String(), changed: make(chan struct{})}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *SMTPSink) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	say := func(line string) { _, _ = c.Write([]byte(line + "\r\n")) }
	say("220 sink ESMTP")
	var m Mail
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			say("250 sink")
		case strings.HasPrefix(cmd, "MAIL FROM:"):
			m = Mail{From: strings.Trim(strings.TrimSpace(line)[10:], "<> ")}
			say("250 OK")
		case strings.HasPrefix(cmd, "RCPT TO:"):
			m.To = append(m.To, strings.Trim(strings.TrimSpace(line)[8:], "<> "))
			say("250 OK")
		case cmd == "DATA":
			say("354 go ahead")
			m.Data = readData(r)
			s.keep(m)
			say("250 OK")
		case cmd == "QUIT":
			say("221 bye")
			return
		default:
			say("250 OK")
		}
	}
}

func readData(r *bufio.Reader) string {
	var b strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil || line == ".\r\n" {
			return b.String()
		}
		b.WriteString(line)
	}
}

func (s *SMTPSink) keep(m Mail) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mails = append(s.mails, m)
	close(s.changed)
	s.changed = make(chan struct{})
}

// Mails returns what was received and a channel closed on the next mail.
func (s *SMTPSink) Mails() ([]Mail, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mails...), s.changed
}
