package notify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/smtp"
	"strings"
	"time"
)

// Mailer sends notifications by SMTP.
type Mailer struct {
	Addr     string // host:port
	From     string
	Username string
	Password string
}

// Send mails n to its recipients (Bcc only in the envelope).
func (m *Mailer) Send(n Notification) error {
	to := append(append(append([]string{}, n.Recipients.To...), n.Recipients.Cc...), n.Recipients.Bcc...)
	if len(to) == 0 {
		return nil
	}
	var auth smtp.Auth
	if m.Username != "" {
		host, _, _ := strings.Cut(m.Addr, ":")
		auth = smtp.PlainAuth("", m.Username, m.Password, host)
	}
	if err := smtp.SendMail(m.Addr, auth, m.From, to, m.message(n)); err != nil {
		return fmt.Errorf("mail notification %s: %w", n.ID, err)
	}
	return nil
}

func (m *Mailer) message(n Notification) []byte {
	var b bytes.Buffer
	toHeader := strings.Join(n.Recipients.To, ", ")
	if toHeader == "" {
		toHeader = "undisclosed-recipients:;"
	}
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\n", m.From, toHeader)
	if len(n.Recipients.Cc) > 0 {
		fmt.Fprintf(&b, "Cc: %s\r\n", strings.Join(n.Recipients.Cc, ", "))
	}
	fmt.Fprintf(&b, "Subject: %s\r\nMessage-ID: <%s@billrelay>\r\nDate: %s\r\nMIME-Version: 1.0\r\n",
		headerLine("Provisioning failed: item "+n.Item), n.ID, time.Now().UTC().Format(time.RFC1123Z))
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\n\r\n")
	b.WriteString(n.Summary + "\r\n\r\n")
	details, _ := json.MarshalIndent(n.Details, "", "  ")
	b.WriteString(strings.ReplaceAll(string(details), "\n", "\r\n") + "\r\n\r\nEvent: " + n.EventID + "\r\n")
	return b.Bytes()
}

func headerLine(s string) string {
	return strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
}
