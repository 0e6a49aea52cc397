// Package harness runs the real billrelay binary (and real nats-server
// processes) for end-to-end and fault tests: random ports, a fresh data
// directory per test, logs captured, and kill -9 when a test asks for it.
package harness

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// AdminToken is the admin token every harness relay starts with.
const AdminToken = "bra_test_admin_token"

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// Build compiles billrelay and nats-server once per test binary. Call it
// from TestMain; it returns the directory holding both.
func Build() (string, error) {
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "billrelay-bin-")
		if buildErr != nil {
			return
		}
		for pkg, name := range map[string]string{
			"github.com/billrelay/billrelay/cmd/billrelay": "billrelay",
			"github.com/nats-io/nats-server/v2":            "nats-server",
		} {
			out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, name), pkg).CombinedOutput()
			if err != nil {
				buildErr = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
				return
			}
		}
	})
	return binDir, buildErr
}

// Bin returns the path of a built binary.
func Bin(name string) string { return filepath.Join(binDir, name) }

// Relay is one running billrelay process.
type Relay struct {
	t       testing.TB
	Env     []string
	DataDir string
	URL     string
	cmd     *exec.Cmd
	wrap    []string // a command the relay runs under (strace), if any
	logs    *Logs
	earlier strings.Builder // logs of the runs before the last restart
	exited  chan struct{}
	exitErr error
}

// Start runs billrelay serve with a fresh data directory, a random HTTP
// port and the test admin token; extra is appended to the environment
// (RELAY_X=y). It returns when the relay logs that it is serving.
func Start(t testing.TB, extra ...string) *Relay {
	t.Helper()
	r := &Relay{t: t, DataDir: t.TempDir()}
	r.Env = append([]string{
		"RELAY_DATA_DIR=" + r.DataDir,
		"RELAY_HTTP_ADDR=127.0.0.1:0",
		"RELAY_ADMIN_TOKEN=" + AdminToken,
		"RELAY_LOG_LEVEL=debug",
	}, extra...)
	r.start()
	t.Cleanup(r.Kill)
	return r
}

// StartWrapped is [Start] with the relay running under wrap (for example
// strace and its flags); the wrapper and the relay form one process group
// that Kill and Stop signal together.
func StartWrapped(t testing.TB, wrap []string, extra ...string) *Relay {
	t.Helper()
	r := &Relay{t: t, DataDir: t.TempDir(), wrap: wrap}
	r.Env = append([]string{
		"RELAY_DATA_DIR=" + r.DataDir,
		"RELAY_HTTP_ADDR=127.0.0.1:0",
		"RELAY_ADMIN_TOKEN=" + AdminToken,
	}, extra...)
	r.start()
	t.Cleanup(r.Kill)
	return r
}

func (r *Relay) start() {
	r.t.Helper()
	args := append(append([]string{}, r.wrap...), Bin("billrelay"), "serve")
	r.cmd = exec.Command(args[0], args[1:]...)
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	r.cmd.Env = append(os.Environ(), r.Env...)
	if r.logs != nil {
		r.earlier.WriteString(r.logs.String())
	}
	r.logs = newLogs()
	r.cmd.Stderr = r.logs
	r.cmd.Stdout = r.logs
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("start billrelay: %v", err)
	}
	r.exited = make(chan struct{})
	go func() {
		r.exitErr = r.cmd.Wait()
		close(r.exited)
	}()
	line, err := r.logs.WaitFor(r.exited, 60*time.Second, `"message":"relay serving"`)
	if err != nil {
		r.t.Fatalf("billrelay did not start: %v\nlogs:\n%s", err, r.logs.String())
	}
	var l struct {
		HTTPAddr string `json:"http_addr"`
	}
	if err := json.Unmarshal([]byte(line), &l); err != nil || l.HTTPAddr == "" {
		r.t.Fatalf("no http_addr in %q: %v", line, err)
	}
	r.URL = "http://" + l.HTTPAddr
}

// Restart starts the process again on the same data directory and env. A
// process still running is stopped first (SIGTERM, a clean stop): two
// relays on one data directory would share one store, and the older one
// would outlive the test.
func (r *Relay) Restart() {
	r.t.Helper()
	if r.cmd != nil && r.cmd.Process != nil {
		select {
		case <-r.exited:
		default:
			if _, err := r.Stop(syscall.SIGTERM, 30*time.Second); err != nil {
				r.t.Logf("restart: %v", err)
			}
		}
	}
	r.start()
}

// Kill sends SIGKILL and waits for the process to be gone.
func (r *Relay) Kill() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	select {
	case <-r.exited:
		return
	default:
	}
	r.signal(syscall.SIGKILL)
	<-r.exited
}

// signal reaches the relay. A wrapped relay is signalled itself (its
// wrapper ends with it and writes out what it recorded); SIGKILL goes to
// the whole group.
func (r *Relay) signal(sig syscall.Signal) {
	switch {
	case r.wrap == nil:
		_ = r.cmd.Process.Signal(sig)
	case sig == syscall.SIGKILL:
		_ = syscall.Kill(-r.cmd.Process.Pid, sig)
	default:
		for _, pid := range children(r.cmd.Process.Pid) {
			_ = syscall.Kill(pid, sig)
		}
	}
}

// children lists the child processes of pid, from /proc.
func children(pid int) []int {
	var out []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		for _, field := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(field); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// Stop sends sig and returns the exit code once the process is gone.
func (r *Relay) Stop(sig syscall.Signal, timeout time.Duration) (int, error) {
	r.signal(sig)
	select {
	case <-r.exited:
		return r.cmd.ProcessState.ExitCode(), nil
	case <-time.After(timeout):
		r.Kill()
		return -1, fmt.Errorf("still running %s after %v", timeout, sig)
	}
}

// Logs returns everything the process wrote so far.
func (r *Relay) Logs() string { return r.logs.String() }

// AllLogs returns what every run of the process wrote, restarts included.
func (r *Relay) AllLogs() string { return r.earlier.String() + r.logs.String() }

// Do sends a request with token (none if empty) and a JSON body (none if
// nil; a string or []byte is sent as is) and returns status and body.
func (r *Relay) Do(method, path, token string, body any) (int, []byte) {
	r.t.Helper()
	return Do(r.t, method, r.URL+path, token, body)
}

// Do is [Relay.Do] against any URL.
func Do(t testing.TB, method, url, token string, body any) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	status, _, out := DoContext(ctx, t, method, url, token, body)
	return status, out
}

// DoContext sends a request under ctx (a test may drop it midway) and
// returns the status, headers and body. A string or []byte body is sent as
// it is, anything else as JSON.
func DoContext(ctx context.Context, t testing.TB, method, url, token string, body any) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("encode body: %v", err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, out
}

// Logs collects a process's output and lets tests wait for a line.
type Logs struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newLogs() *Logs { return &Logs{changed: make(chan struct{})} }

func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	close(l.changed)
	l.changed = make(chan struct{})
	return len(p), nil
}

func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// WaitFor returns the first line containing substr, waiting until it is
// written, the process exits (stop) or timeout passes.
func (l *Logs) WaitFor(stop <-chan struct{}, timeout time.Duration, substr string) (string, error) {
	deadline := time.After(timeout)
	for {
		l.mu.Lock()
		ch := l.changed
		sc := bufio.NewScanner(bytes.NewReader(l.buf.Bytes()))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if strings.Contains(sc.Text(), substr) {
				l.mu.Unlock()
				return sc.Text(), nil
			}
		}
		l.mu.Unlock()
		select {
		case <-ch:
		case <-stop:
			return "", fmt.Errorf("process exited before logging %q", substr)
		case <-deadline:
			return "", fmt.Errorf("no %q after %v", substr, timeout)
		}
	}
}

// PID is the relay process's id (the wrapper's, when wrapped).
func (r *Relay) PID() int { return r.cmd.Process.Pid }

// RSS reads the relay process's resident memory from /proc, in bytes.
func (r *Relay) RSS() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", r.PID()))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb); err != nil {
				return 0, err
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", r.PID())
}
