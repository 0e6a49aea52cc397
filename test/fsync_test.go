package test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/billrelay/billrelay/test/harness"
)

// TestFsyncBeforeAccepted runs the relay under strace and proves, from the
// system calls, that every event answered 202 was written to the INGEST
// store and covered by an fsync of that file which returned before the 202
// was written to the seller's socket. It needs strace and ptrace rights,
// and says so when it skips.
func TestFsyncBeforeAccepted(t *testing.T) {
	if out, err := exec.Command("strace", "-f", "-o", "/dev/null", "true").CombinedOutput(); err != nil {
		t.Skipf("strace not usable here (apt-get install strace; ptrace allowed): %v %s", err, out)
	}
	trace := filepath.Join(t.TempDir(), "trace")
	r := harness.StartWrapped(t, []string{"strace", "-f", "-tt", "-T", "-yy", "-s", "65536",
		"-e", "trace=pwrite64,pwritev,write,writev,fsync,fdatasync", "-o", trace})
	seller := r.RegisterSeller("sell-1")
	accepted := publishConcurrently(t, r, seller, 8, 25)
	if code, err := r.Stop(syscall.SIGTERM, 60*time.Second); err != nil || code != 0 {
		t.Fatalf("relay stop: code %d, %v", code, err)
	}
	calls := parseTrace(t, trace)
	if len(calls) == 0 {
		b, _ := os.ReadFile(trace)
		t.Fatalf("no calls parsed from the trace (%d bytes): %.2000s", len(b), b)
	}
	for _, id := range accepted {
		if err := provenDurable(calls, id); err != nil {
			t.Errorf("event %s: %v", id, err)
		}
	}
	t.Logf("%d accepted events, each written and fsynced before its 202 (%d traced calls)", len(accepted), len(calls))
}

// publishConcurrently sends rounds of single events and batches of three
// from n sellers' clients at once (so that commit groups hold several
// requests) and returns the ids answered 202.
func publishConcurrently(t *testing.T, r *harness.Relay, token string, n, rounds int) []string {
	var mu sync.Mutex
	var ids []string
	var wg sync.WaitGroup
	for c := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				var body []any
				for k := range 1 + i%2*2 {
					id := fmt.Sprintf("proof-%d-%d-%d", c, i, k)
					body = append(body, harness.StateChange(id, "sell-1", "acc-1", "item-"+id, "active"))
				}
				for _, res := range r.Publish(token, body) {
					mu.Lock()
					ids = append(ids, res.ID)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return ids
}

// call is one traced system call: when it began and ended, on which file.
type call struct {
	name       string
	path       string
	data       string
	start, end time.Time
}

var (
	straceLine = regexp.MustCompile(`^(\d+)\s+(\d\d:\d\d:\d\d\.\d+) (.*)$`)
	callHead   = regexp.MustCompile(`^(\w+)\(\d+<([^>]*)>(.*)$`)
	resumed    = regexp.MustCompile(`^<\.\.\. (\w+) resumed>(.*)$`)
	duration   = regexp.MustCompile(`= (-?\d+).*<(\d+\.\d+)>$`)
)

// parseTrace reads strace -f -tt -T -yy output, joining calls that other
// threads interrupted ("<unfinished ...>" and "<... resumed>").
func parseTrace(t *testing.T, path string) []call {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []call
	open := map[string]*call{} // pid -> its unfinished call
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		m := straceLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		pid, at, rest := m[1], clock(m[2]), m[3]
		if r := resumed.FindStringSubmatch(rest); r != nil {
			if c := open[pid]; c != nil {
				delete(open, pid)
				if finish(c, at, r[2], true) {
					out = append(out, *c)
				}
			}
			continue
		}
		h := callHead.FindStringSubmatch(rest)
		if h == nil {
			continue
		}
		c := &call{name: h[1], path: h[2], data: h[3], start: at}
		if strings.HasSuffix(rest, "<unfinished ...>") {
			open[pid] = c
			continue
		}
		if finish(c, at, rest, false) {
			out = append(out, *c)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// finish sets the call's end from its duration and reports whether it
// succeeded.
func finish(c *call, at time.Time, tail string, wasResumed bool) bool {
	d := duration.FindStringSubmatch(tail)
	if d == nil || strings.HasPrefix(d[1], "-") {
		return false
	}
	secs, _ := strconv.ParseFloat(d[2], 64)
	c.end = c.start.Add(time.Duration(secs * float64(time.Second)))
	if wasResumed && at.After(c.end) {
		c.end = at
	}
	return true
}

func clock(s string) time.Time {
	t, _ := time.Parse("15:04:05.000000", s)
	return t
}

// provenDurable finds the 202 that answered id, the INGEST write that
// holds id before it, and an fsync of that file that started after the
// write ended and ended before the 202 began.
func provenDurable(calls []call, id string) error {
	quoted := `\"id\":\"` + id + `\"`
	var answer, write *call
	for i := range calls {
		c := &calls[i]
		switch {
		case answer == nil && strings.HasPrefix(c.path, "TCP:") && strings.Contains(c.data, "202 Accepted") && strings.Contains(c.data, quoted):
			answer = c
		case write == nil && c.name == "pwrite64" && strings.Contains(c.path, "/streams/INGEST/") && strings.Contains(c.data, id):
			write = c
		}
	}
	switch {
	case answer == nil:
		return fmt.Errorf("no 202 carrying it in the trace")
	case write == nil:
		return fmt.Errorf("no INGEST write holding it")
	case !write.end.Before(answer.start):
		return fmt.Errorf("202 at %s before its INGEST write ended at %s", answer.start.Format(time.StampMicro), write.end.Format(time.StampMicro))
	}
	for _, c := range calls {
		if (c.name == "fsync" || c.name == "fdatasync") && c.path == write.path &&
			!c.start.Before(write.end) && c.end.Before(answer.start) {
			return nil
		}
	}
	return fmt.Errorf("no fsync of %s between its write (%s) and its 202 (%s)",
		write.path, write.end.Format(time.StampMicro), answer.start.Format(time.StampMicro))
}
