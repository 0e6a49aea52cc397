package test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/billrelay/billrelay/test/harness"
)

// twoResellers starts a relay with sell-1, res-a and res-b on acc-77 and
// res-c on acc-99.
type twoResellers struct {
	r                  *harness.Relay
	seller, ta, tb, tc string
}

func startShared(t *testing.T, env ...string) twoResellers {
	r := harness.Start(t, env...)
	w := twoResellers{r: r, seller: r.RegisterSeller("sell-1")}
	w.ta = r.RegisterReseller("res-a", "sell-1", "acc-77")
	w.tb = r.RegisterReseller("res-b", "sell-1", "acc-77")
	w.tc = r.RegisterReseller("res-c", "sell-1", "acc-99")
	return w
}

// TestSharedAccountReachesEveryReseller is the BILLmanager shared-account
// case: res-a reading and acking must not empty the list for res-b.
func TestSharedAccountReachesEveryReseller(t *testing.T) {
	w := startShared(t)
	single := w.r.Publish(w.seller, harness.StateChange("ev-1", "sell-1", "acc-77", "16643", "provisioning"))
	batch := w.r.Publish(w.seller, []any{
		harness.StateChange("ev-2", "sell-1", "acc-77", "16643", "active"),
		harness.StateChange("ev-3", "sell-1", "acc-77", "16644", "active"),
	})
	if fmt.Sprint(single, batch) != "[{ev-1 accepted}] [{ev-2 accepted} {ev-3 accepted}]" {
		t.Fatalf("ingest answers: %v %v", single, batch)
	}
	if dup := w.r.Publish(w.seller, harness.StateChange("ev-2", "sell-1", "acc-77", "16643", "active")); dup[0].Status != "duplicate" {
		t.Fatalf("re-sent id answered %v, want duplicate", dup)
	}

	a := w.r.PullN("res-a", w.ta, 3, 30*time.Second)
	if fmt.Sprint(harness.IDs(a)) != "[ev-1 ev-2 ev-3]" || a[0].Attempt != 1 {
		t.Fatalf("res-a got %v", harness.IDs(a))
	}
	w.r.AckAll("res-a", w.ta, a)
	if more := w.r.Pull("res-a", w.ta, 10, 0); len(more) != 0 {
		t.Fatalf("res-a got %v again after acking (duplicate delivery)", harness.IDs(more))
	}
	if lag := w.r.ResellerLag("res-b"); lag.Pending != 3 {
		t.Fatalf("res-b lag after res-a acked = %+v, want 3 pending", lag)
	}
	b := w.r.PullN("res-b", w.tb, 3, 30*time.Second)
	if fmt.Sprint(harness.IDs(b)) != "[ev-1 ev-2 ev-3]" {
		t.Fatalf("res-b got %v", harness.IDs(b))
	}
	if c := w.r.Pull("res-c", w.tc, 10, 500*time.Millisecond); len(c) != 0 {
		t.Fatalf("res-c on another account got %v", harness.IDs(c))
	}
	if lag := w.r.ResellerLag("res-b"); lag.AckPending != 3 || lag.Pending != 0 {
		t.Fatalf("res-b lag after pulling = %+v, want 3 ack pending", lag)
	}
}

func TestNakZeroComesBackAndPullTakesAtMostMax(t *testing.T) {
	w := startShared(t)
	var batch []any
	for i := range 5 {
		batch = append(batch, harness.StateChange(fmt.Sprintf("m-%d", i), "sell-1", "acc-77", "i", "active"))
	}
	w.r.Publish(w.seller, batch)
	harness.WaitFor(t, 30*time.Second, "events routed to res-a", func() bool { return w.r.ResellerLag("res-a").Pending == 5 })
	two := w.r.Pull("res-a", w.ta, 2, time.Second)
	if len(two) != 2 {
		t.Fatalf("pull max=2 gave %d", len(two))
	}
	if lag := w.r.ResellerLag("res-a"); lag.AckPending != 2 || lag.Pending != 3 {
		t.Fatalf("after pull max=2, lag = %+v: want exactly 2 taken from the consumer", lag)
	}
	status, out := w.r.Do(http.MethodPost, "/v1/resellers/res-a/acks", w.ta,
		map[string]any{"nak": []any{map[string]string{"ack_id": two[0].AckID, "delay": "0s"}}, "ack": []string{two[1].AckID}})
	if status != http.StatusOK || !strings.Contains(string(out), `"naked":1`) {
		t.Fatalf("nak: %d %s", status, out)
	}
	next := w.r.Pull("res-a", w.ta, 1, 5*time.Second)
	if len(next) != 1 || next[0].Event.ID != "m-0" || next[0].Attempt != 2 {
		t.Fatalf("after nak 0s, next pull gave %+v, want m-0 attempt 2", next)
	}
}

func TestLongPollAnswersWhenAnEventArrives(t *testing.T) {
	w := startShared(t)
	got := make(chan []harness.Delivery, 1)
	go func() { got <- w.r.Pull("res-a", w.ta, 10, 50*time.Second) }()
	harness.WaitFor(t, 30*time.Second, "the pull to wait", func() bool {
		_, out := w.r.Do(http.MethodGet, "/v1/resellers/res-a", harness.AdminToken, nil)
		return strings.Contains(string(out), `"waiting":1`)
	})
	w.r.Publish(w.seller, harness.StateChange("late", "sell-1", "acc-77", "i", "active"))
	if ds := <-got; len(ds) != 1 || ds[0].Event.ID != "late" {
		t.Fatalf("long poll returned %v", harness.IDs(ds))
	}
}

// TestKillNineLosesNothing kills the relay right after a 202: everything
// not acked comes back after the restart, nothing acked does.
func TestKillNineLosesNothing(t *testing.T) {
	w := startShared(t, "RELAY_ACK_WAIT=5s")
	var first []any
	for i := range 20 {
		first = append(first, harness.StateChange(fmt.Sprintf("k-%02d", i), "sell-1", "acc-77", fmt.Sprint(i%4), "active"))
	}
	w.r.Publish(w.seller, first)
	a := w.r.PullN("res-a", w.ta, 20, 30*time.Second)
	w.r.AckAll("res-a", w.ta, a[:12])
	w.r.Publish(w.seller, harness.StateChange("k-last", "sell-1", "acc-77", "0", "suspended"))
	w.r.Kill()

	w.r.Restart()
	// The unacked copies come back only when their ack wait runs out, so
	// each pull is acked at once: an unacked k-last would itself come back
	// one ack wait after its first delivery, which is not a duplicate.
	var gotA []harness.Delivery
	harness.WaitFor(t, 60*time.Second, "res-a to get the unacked events again", func() bool {
		got := w.r.Pull("res-a", w.ta, 9, 5*time.Second)
		if len(got) > 0 {
			w.r.AckAll("res-a", w.ta, got)
		}
		gotA = append(gotA, got...)
		return len(gotA) >= 9
	})
	want := append(harness.IDs(a[12:]), "k-last")
	if fmt.Sprint(sorted(harness.IDs(gotA))) != fmt.Sprint(sorted(want)) {
		t.Fatalf("res-a after restart got %v, want exactly the unacked %v", harness.IDs(gotA), want)
	}
	if extra := w.r.Pull("res-a", w.ta, 100, time.Second); len(extra) != 0 {
		t.Fatalf("acked events came back: %v (attempt %d)", harness.IDs(extra), extra[0].Attempt)
	}
	gotB := w.r.PullN("res-b", w.tb, 21, 60*time.Second)
	if len(unique(harness.IDs(gotB))) != 21 {
		t.Fatalf("res-b got %v, want all 21", harness.IDs(gotB))
	}
}

func TestSignalsStopCleanly(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			r := harness.Start(t)
			if status, _ := r.Do(http.MethodGet, "/readyz", "", nil); status != http.StatusOK {
				t.Fatalf("readyz = %d", status)
			}
			code, err := r.Stop(sig, 30*time.Second)
			if err != nil || code != 0 {
				t.Fatalf("exit code %d, %v; want 0\n%s", code, err, r.Logs())
			}
		})
	}
}

func TestAdminTokenGeneratedOnce(t *testing.T) {
	r := harness.Start(t, "RELAY_ADMIN_TOKEN=")
	path := filepath.Join(r.DataDir, "admin.token")
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin token file: %v, %v; want mode 0600", fi, err)
	}
	b, _ := os.ReadFile(path)
	token := strings.TrimSpace(string(b))
	if !strings.Contains(r.Logs(), token) {
		t.Fatalf("token not printed on first start")
	}
	if status, out := r.Do(http.MethodPost, "/v1/sellers", token, map[string]string{"id": "s"}); status != http.StatusCreated {
		t.Fatalf("generated token refused: %d %s", status, out)
	}
	r.Kill()
	r.Restart()
	if strings.Contains(r.Logs(), token) {
		t.Fatalf("token printed again on the second start")
	}
	if status, _ := r.Do(http.MethodGet, "/v1/resellers", token, nil); status != http.StatusOK {
		t.Fatalf("token from the data dir refused after restart: %d", status)
	}
}

// TestExternalNATS runs the relay against a separately started
// nats-server, and /readyz follows that server's availability.
func TestExternalNATS(t *testing.T) {
	n := harness.StartNATS(t)
	w := startShared(t, "RELAY_NATS_URL="+n.URL)
	w.r.Publish(w.seller, harness.StateChange("x-1", "sell-1", "acc-77", "i", "active"))
	if got := w.r.PullN("res-b", w.tb, 1, 30*time.Second); got[0].Event.ID != "x-1" {
		t.Fatalf("got %v", harness.IDs(got))
	}
	if !strings.Contains(w.r.Logs(), `"embedded_nats":false`) {
		t.Fatalf("relay did not say it uses the external server")
	}
	n.Kill()
	harness.WaitFor(t, 30*time.Second, "readyz to fail", func() bool {
		status, _ := w.r.Do(http.MethodGet, "/readyz", "", nil)
		return status == http.StatusServiceUnavailable
	})
	n.Start()
	harness.WaitFor(t, 60*time.Second, "readyz to recover", func() bool {
		status, _ := w.r.Do(http.MethodGet, "/readyz", "", nil)
		return status == http.StatusOK
	})
	a := w.r.PullN("res-a", w.ta, 1, 30*time.Second)
	if a[0].Event.ID != "x-1" {
		t.Fatalf("after nats restart res-a got %v", harness.IDs(a))
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func unique(s []string) map[string]bool {
	m := map[string]bool{}
	for _, v := range s {
		m[v] = true
	}
	return m
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}
