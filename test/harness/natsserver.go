package harness

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// NATS is one nats-server process with JetStream on a random port.
type NATS struct {
	t      testing.TB
	Port   int
	URL    string
	args   []string
	cmd    *exec.Cmd
	exited chan struct{}
	logs   *Logs
}

// StartNATS runs a standalone nats-server with JetStream in a fresh store.
// extra are additional command-line flags.
func StartNATS(t testing.TB, extra ...string) *NATS {
	t.Helper()
	port := FreePort(t)
	n := &NATS{t: t, Port: port, URL: "nats://127.0.0.1:" + strconv.Itoa(port)}
	n.args = append([]string{"-a", "127.0.0.1", "-p", strconv.Itoa(port), "-js", "-sd", t.TempDir()}, extra...)
	n.Start()
	t.Cleanup(n.Kill)
	return n
}

// Start runs (or reruns) the server with the same flags and store.
func (n *NATS) Start() {
	n.t.Helper()
	n.cmd = exec.Command(Bin("nats-server"), n.args...)
	n.logs = newLogs()
	n.cmd.Stderr, n.cmd.Stdout = n.logs, n.logs
	if err := n.cmd.Start(); err != nil {
		n.t.Fatalf("start nats-server: %v", err)
	}
	n.exited = make(chan struct{})
	go func() { _ = n.cmd.Wait(); close(n.exited) }()
	if _, err := n.logs.WaitFor(n.exited, 30*time.Second, "Server is ready"); err != nil {
		n.t.Fatalf("nats-server did not start: %v\n%s", err, n.logs.String())
	}
}

// Kill stops the server with SIGKILL.
func (n *NATS) Kill() {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	select {
	case <-n.exited:
		return
	default:
	}
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.exited
}

// FreePort asks the kernel for a free TCP port on 127.0.0.1.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// String names the server in failure messages.
func (n *NATS) String() string { return fmt.Sprintf("nats-server on %d", n.Port) }

// StartHub runs a nats-server with JetStream that also accepts leaf node
// connections, in JetStream domain "hub", and returns it with the leaf URL.
func StartHub(t testing.TB) (*NATS, string) {
	t.Helper()
	leafPort := FreePort(t)
	conf := filepath.Join(t.TempDir(), "hub.conf")
	body := fmt.Sprintf("server_name: hub\njetstream { domain: hub }\nleafnodes { listen: \"127.0.0.1:%d\" }\n", leafPort)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return StartNATS(t, "-c", conf), "nats-leaf://127.0.0.1:" + strconv.Itoa(leafPort)
}
