package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/billrelay/billrelay/relay"
)

// HTTPSink posts each event to the reselling billing node's own endpoint.
// The answer is read the way webhooks are: 2xx delivered, 4xx permanent,
// 5xx and timeouts retried, 429/503 honour Retry-After.
type HTTPSink struct {
	URL     string
	Timeout time.Duration
	Client  *http.Client
}

var _ relay.Sink = (*HTTPSink)(nil)

// Deliver implements [relay.Sink].
func (s *HTTPSink) Deliver(ctx context.Context, m relay.Message) error {
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(m.Body))
	if err != nil {
		return fmt.Errorf("%w: %v", relay.ErrPermanent, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", m.ID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(time.Now().Unix(), 10))
	req.Header.Set("Billrelay-Attempt", strconv.Itoa(m.Attempt))
	if m.Replay {
		req.Header.Set("Billrelay-Replay", "true")
	}
	if len(m.Flags) > 0 {
		req.Header.Set("Billrelay-Flags", strings.Join(m.Flags, ","))
	}
	resp, err := s.Client.Do(req)
	if err != nil {
		return fmt.Errorf("post to %s: %w", s.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	return relay.ClassifyHTTP(resp.StatusCode, resp.Header, relay.Excerpt(body))
}

// CommandSink runs a command per event, the way a BILLmanager processing
// module or mgrctl is called: the event JSON on stdin, its key fields in
// the environment. Exit 0 acks; TermExitCode terminates with stderr as the
// reason (e.g. "unknown item"); anything else is retried.
type CommandSink struct {
	// Command is run by /bin/sh -c.
	Command      string
	TermExitCode int
	Timeout      time.Duration
}

var _ relay.Sink = (*CommandSink)(nil)

// Deliver implements [relay.Sink].
func (s *CommandSink) Deliver(ctx context.Context, m relay.Message) error {
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", s.Command)
	cmd.Stdin = bytes.NewReader(m.Body)
	cmd.Env = append(os.Environ(), commandEnv(m)...)
	var stderr limitedBuffer
	cmd.Stderr, cmd.Stdout = &stderr, io.Discard
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("command timed out after %s", s.Timeout)
	case errors.As(err, &exit) && exit.ExitCode() == s.TermExitCode:
		return fmt.Errorf("%w: exit %d: %s", relay.ErrPermanent, exit.ExitCode(), stderr.excerpt())
	case errors.As(err, &exit):
		return fmt.Errorf("exit %d: %s", exit.ExitCode(), stderr.excerpt())
	default:
		return fmt.Errorf("run command: %w", err)
	}
}

// commandEnv names an event's key fields for a command.
func commandEnv(m relay.Message) []string {
	return []string{
		"BILLRELAY_EVENT_ID=" + m.ID,
		"BILLRELAY_EVENT_TYPE=" + m.Type,
		"BILLRELAY_SELLER=" + m.Key.Seller,
		"BILLRELAY_ACCOUNT=" + m.Key.Account,
		"BILLRELAY_ITEM=" + m.Key.Item,
		"BILLRELAY_STATE=" + m.State(),
		"BILLRELAY_ATTEMPT=" + strconv.Itoa(m.Attempt),
		"BILLRELAY_REPLAY=" + strconv.FormatBool(m.Replay),
		"BILLRELAY_FLAGS=" + strings.Join(m.Flags, ","),
	}
}

// limitedBuffer keeps the first 4 KiB a command writes.
type limitedBuffer struct{ b bytes.Buffer }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := 4<<10 - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (l *limitedBuffer) excerpt() string {
	s := relay.Excerpt(l.b.Bytes())
	if s == "" {
		return "(no output on stderr)"
	}
	return strings.ReplaceAll(s, "\n", " ")
}
