package harness

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// Agent is one running "billrelay agent" process.
type Agent struct {
	cmd    *exec.Cmd
	logs   *Logs
	exited chan struct{}
}

// StartAgent runs billrelay agent with env (AGENT_*), a fresh state
// directory unless env sets one, and returns once it logs that it is
// delivering.
func StartAgent(t testing.TB, env ...string) *Agent {
	t.Helper()
	a := &Agent{logs: newLogs(), exited: make(chan struct{})}
	a.cmd = exec.Command(Bin("billrelay"), "agent")
	a.cmd.Env = append(append(os.Environ(), "AGENT_STATE_DIR="+t.TempDir(), "AGENT_LOG_LEVEL=debug"), env...)
	a.cmd.Stderr, a.cmd.Stdout = a.logs, a.logs
	if err := a.cmd.Start(); err != nil {
		t.Fatalf("start agent: %v", err)
	}
	go func() { _ = a.cmd.Wait(); close(a.exited) }()
	t.Cleanup(a.Kill)
	if _, err := a.logs.WaitFor(a.exited, 60*time.Second, `"message":"agent delivering"`); err != nil {
		t.Fatalf("agent did not start: %v\n%s", err, a.logs.String())
	}
	return a
}

// Kill stops the agent with SIGKILL.
func (a *Agent) Kill() {
	select {
	case <-a.exited:
	default:
		_ = a.cmd.Process.Signal(syscall.SIGKILL)
		<-a.exited
	}
}

// Logs returns what the agent wrote.
func (a *Agent) Logs() string { return a.logs.String() }
