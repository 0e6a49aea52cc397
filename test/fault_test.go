package test

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/billrelay/billrelay/test/harness"
)

// TestTwentyKillNines kills the relay with SIGKILL twenty times, at random
// points, while four sellers' clients publish (retrying with the same id
// until they get a 202), two resellers pull and ack, and a third takes
// webhooks. Afterwards every accepted event must have reached all three,
// and anything delivered twice must carry the same event id.
func TestTwentyKillNines(t *testing.T) {
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	t.Logf("seed %d", seed)
	port := harness.FreePort(t)
	r := harness.Start(t, append([]string{"RELAY_HTTP_ADDR=127.0.0.1:" + strconv.Itoa(port)}, fastRetries...)...)
	url := r.URL
	urls := func() []string { return []string{url} }
	seller := r.RegisterSeller("sell-1")
	ta := r.RegisterReseller("res-a", "sell-1", "acc-77")
	tb := r.RegisterReseller("res-b", "sell-1", "acc-77")
	h := newHook(t)
	registerWebhook(t, r, "res-w", h.srv.URL)

	da, db := harness.StartDrain(urls, "res-a", ta), harness.StartDrain(urls, "res-b", tb)
	load := harness.StartLoad(urls, seller, 4, func(i int) map[string]any {
		return harness.StateChange(fmt.Sprintf("f-%05d", i), "sell-1", "acc-77", "item-"+strconv.Itoa(i%20), "active")
	})
	start := time.Now()
	n, kills := 0, 20
	if testing.Short() {
		kills = 3
	}
	for range kills {
		n += 10 + rng.IntN(60)
		wait(t, load.Reached(n), fmt.Sprintf("%d accepted events", n))
		r.Kill()
		r.Restart()
	}
	wait(t, load.Reached(n+100), "100 more events after the last kill")
	accepted, refused, gap := load.Stop()
	t.Logf("kills done after %s", time.Since(start).Round(time.Millisecond))

	for name, d := range map[string]*harness.Drain{"res-a": da, "res-b": db} {
		if missing := d.WaitAll(accepted, 60*time.Second); len(missing) > 0 {
			t.Errorf("%s: %d of %d accepted events missing, e.g. %v", name, len(missing), len(accepted), missing[:min(5, len(missing))])
			logLines(t, r.AllLogs(), missing[0], "again")
		}
	}
	t.Logf("pullers done after %s", time.Since(start).Round(time.Millisecond))
	if missing := missingFrom(hookIDs(h.requests()), accepted); len(missing) > 0 {
		t.Logf("webhook still missing %d: %v", len(missing), missing[:min(10, len(missing))])
	}
	rs := h.waitFor(t, "every accepted event on the webhook", func(rs []hookReq) bool {
		return len(missingFrom(hookIDs(rs), accepted)) == 0
	})
	dups := checkSameIDs(t, rs, da.Stop(), db.Stop())
	t.Logf("%d kills: %d events accepted; refusals by status %v; longest gap between 202s %s; repeated deliveries: %s",
		kills, len(accepted), refused, gap.Round(time.Millisecond), dups)
}

func missingFrom(got, want []string) []string {
	have := unique(got)
	var out []string
	for _, id := range want {
		if !have[id] {
			out = append(out, id)
		}
	}
	return out
}

// checkSameIDs checks that every delivery names an event that was
// published (by its id) and that each webhook attempt's webhook-id is its
// event's id; it returns how many deliveries repeated an earlier one.
func checkSameIDs(t *testing.T, rs []hookReq, pulled ...map[string]int) string {
	t.Helper()
	valid := func(id string) bool { return strings.HasPrefix(id, "f-") && len(id) == 7 }
	hookDups := 0
	seen := map[string]bool{}
	for _, q := range rs {
		if !valid(q.ID) || q.Header.Get("webhook-id") != q.ID {
			t.Errorf("webhook delivery of %q with webhook-id %q", q.ID, q.Header.Get("webhook-id"))
		}
		if seen[q.ID] {
			hookDups++
		}
		seen[q.ID] = true
	}
	out := fmt.Sprintf("webhook %d", hookDups)
	for i, counts := range pulled {
		dups := 0
		for id, c := range counts {
			if !valid(id) {
				t.Errorf("pulled an event with unknown id %q", id)
			}
			dups += c - 1
		}
		out += fmt.Sprintf(", puller %d: %d", i+1, dups)
	}
	return out
}

// logLines logs the lines of logs that mention any of words.
func logLines(t *testing.T, logs string, words ...string) {
	t.Helper()
	for _, l := range strings.Split(logs, "\n") {
		for _, w := range words {
			if strings.Contains(l, w) {
				t.Log(l)
				break
			}
		}
	}
}
