package test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"syscall"
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

// TestStoreFull fills a small store: ingest answers 507 naming the cause,
// nothing answered 507 is ever delivered, everything answered 202 is, and
// after a restart with room again the relay accepts and delivers.
func TestStoreFull(t *testing.T) {
	r := harness.Start(t, "RELAY_MAX_FILE_STORE=3MiB")
	seller := r.RegisterSeller("sell-1")
	tok := r.RegisterReseller("res-a", "sell-1", "acc-77")
	accepted, refused := fillStore(t, r, seller)

	r.Env = append(r.Env, "RELAY_MAX_FILE_STORE=1GiB")
	if code, err := r.Stop(syscall.SIGTERM, 30*time.Second); err != nil || code != 0 {
		t.Fatalf("stop: %d %v", code, err)
	}
	r.Restart()
	r.Publish(seller, harness.StateChange("s-after", "sell-1", "acc-77", "item-x", "active"))
	want := append(append([]string{}, accepted...), "s-after")
	got := map[string]bool{}
	for len(missingFrom(keys(got), want)) > 0 {
		ds := r.PullN("res-a", tok, 1, 60*time.Second)
		for _, d := range append(ds, r.Pull("res-a", tok, 1000, 0)...) {
			got[d.Event.ID] = true
		}
	}
	for _, id := range refused {
		if got[id] {
			t.Fatalf("%s was answered 507 and delivered anyway", id)
		}
	}
	t.Logf("store full after %d accepted events; the batch answered 507 (%d events) was never delivered; after a restart with room all accepted ones and a new one were", len(accepted), len(refused))
}

// fillStore publishes batches of ~1 KB events for sell-1 until ingest
// answers 507 with a body that names the cause; it returns the ids
// answered 202 and those of the batch answered 507.
func fillStore(t *testing.T, r *harness.Relay, seller string) (accepted, refused []string) {
	t.Helper()
	pad := strings.Repeat("x", 1000)
	var lastBody []byte
	for i := 0; len(refused) == 0 && i < 500; i++ {
		var batch []any
		var ids []string
		for k := range 50 {
			id := fmt.Sprintf("s-%03d-%02d", i, k)
			ev := harness.StateChange(id, "sell-1", "acc-77", "item-"+strconv.Itoa(k), "active")
			ev["data"].(map[string]any)["message"] = pad
			batch, ids = append(batch, ev), append(ids, id)
		}
		status, body := r.Do("POST", "/v1/events", seller, batch)
		switch status {
		case 202:
			accepted = append(accepted, ids...)
		case 507:
			refused, lastBody = ids, body
		default:
			t.Fatalf("batch %d: %d %s", i, status, body)
		}
	}
	if len(refused) == 0 {
		t.Fatalf("the store never filled (%d events accepted)", len(accepted))
	}
	if !strings.Contains(string(lastBody), `"code":"storage_full"`) || !strings.Contains(string(lastBody), "out of space") {
		t.Fatalf("507 body does not say what is wrong: %s", lastBody)
	}
	return accepted, refused
}

// TestFullStoreStillSettles fills a small store until ingest answers 507,
// then the reseller pulls everything and acks and terms it over HTTP:
// every ack and term applies (the settle path has room kept for it, so not
// even the fallback of settling without a receipt is needed), the termed
// events reach the dead letters, and the relay stays up.
func TestFullStoreStillSettles(t *testing.T) {
	r := harness.Start(t, "RELAY_MAX_FILE_STORE=3MiB")
	seller := r.RegisterSeller("sell-1")
	tok := r.RegisterReseller("res-a", "sell-1", "acc-77")
	accepted, _ := fillStore(t, r, seller)

	ds := r.PullN("res-a", tok, len(accepted), 60*time.Second)
	const termed = 3
	var acks []string
	var terms []map[string]string
	for i, d := range ds {
		if i < termed {
			terms = append(terms, map[string]string{"ack_id": d.AckID, "reason": "unknown item on our side"})
			continue
		}
		acks = append(acks, d.AckID)
	}
	for start := 0; start < len(acks); start += 100 {
		settleAll(t, r, tok, acks[start:min(start+100, len(acks))], nil)
	}
	settleAll(t, r, tok, nil, terms)

	var list struct {
		Entries []struct{ Event struct{ ID string } }
	}
	harness.WaitFor(t, 60*time.Second, "the termed events in the dead letters", func() bool {
		_, out := r.Do(http.MethodGet, "/v1/dlq?reseller=res-a", harness.AdminToken, nil)
		return json.Unmarshal(out, &list) == nil && len(list.Entries) == termed
	})
	for i, e := range list.Entries {
		if e.Event.ID != ds[i].Event.ID {
			t.Fatalf("dead letter %d is %s, want %s", i, e.Event.ID, ds[i].Event.ID)
		}
	}
	if status, out := r.Do(http.MethodGet, "/readyz", "", nil); status != 200 {
		t.Fatalf("readyz after settling on a full store: %d %s", status, out)
	}
	if strings.Contains(r.Logs(), "settled without receipts") {
		t.Fatalf("receipts were skipped: the reserve did not keep room for them")
	}
	t.Logf("store full after %d events; %d acked and %d termed over HTTP, all applied; the termed ones dead-lettered", len(accepted), len(acks), termed)
}

// TestFullDLQLosesNoDeadLetter terms more events than a small store's DLQ
// holds: every term applies, the copies that find no room wait (the
// relay says it will retry), and once there is room again (a restart with
// a larger store) every termed event is in the dead letters.
func TestFullDLQLosesNoDeadLetter(t *testing.T) {
	r := harness.Start(t, "RELAY_MAX_FILE_STORE=3MiB")
	seller := r.RegisterSeller("sell-1")
	tok := r.RegisterReseller("res-a", "sell-1", "acc-77")
	const n = 130 // DLQ's room (40% of 10% of 3 MiB) holds about 80 of these
	pad := strings.Repeat("x", 1000)
	for i := 0; i < n; i += 10 {
		var batch []any
		for k := range 10 {
			ev := harness.StateChange(fmt.Sprintf("d-%03d", i+k), "sell-1", "acc-77", "item-"+strconv.Itoa(k), "active")
			ev["data"].(map[string]any)["message"] = pad
			batch = append(batch, ev)
		}
		r.Publish(seller, batch)
	}
	ds := r.PullN("res-a", tok, n, 60*time.Second)
	var terms []map[string]string
	for _, d := range ds {
		terms = append(terms, map[string]string{"ack_id": d.AckID, "reason": "rejected by the test"})
	}
	settleAll(t, r, tok, nil, terms)
	harness.WaitFor(t, 60*time.Second, "a dead-letter copy refused for room", func() bool {
		return strings.Contains(r.Logs(), "dead letter from advisory failed; will retry")
	})
	before := dlqCount(t, r, "res-a")
	if before >= n {
		t.Fatalf("all %d dead letters fit: the test did not fill DLQ", before)
	}

	r.Env = append(r.Env, "RELAY_MAX_FILE_STORE=1GiB")
	if code, err := r.Stop(syscall.SIGTERM, 30*time.Second); err != nil || code != 0 {
		t.Fatalf("stop: %d %v", code, err)
	}
	r.Restart()
	// Each listing reads the DLQ through a new consumer: poll once a
	// second. The waiting copies come back with their advisories' ack wait.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	deadline := time.Now().Add(90 * time.Second)
	for got := dlqCount(t, r, "res-a"); got != n; got = dlqCount(t, r, "res-a") {
		if time.Now().After(deadline) {
			logLines(t, r.Logs(), `"warn"`, `"error"`)
			t.Fatalf("%d of %d termed events in the dead letters after a restart with room", got, n)
		}
		<-tick.C
	}
	t.Logf("DLQ held %d of %d dead letters when full; all %d once there was room", before, n, n)
}

func dlqCount(t *testing.T, r *harness.Relay, reseller string) int {
	t.Helper()
	status, out := r.Do(http.MethodGet, "/v1/dlq?limit=1000&reseller="+reseller, harness.AdminToken, nil)
	var list struct{ Entries []any }
	if status != http.StatusOK || json.Unmarshal(out, &list) != nil {
		t.Fatalf("GET /v1/dlq: %d %.300s", status, out)
	}
	return len(list.Entries)
}

// settleAll posts one ack request and expects every id applied.
func settleAll(t *testing.T, r *harness.Relay, tok string, acks []string, terms []map[string]string) {
	t.Helper()
	status, out := r.Do(http.MethodPost, "/v1/resellers/res-a/acks", tok, map[string]any{"ack": acks, "term": terms})
	var res struct {
		Acked, Termed int
		Errors        []any
	}
	if status != 200 || json.Unmarshal(out, &res) != nil || res.Acked != len(acks) || res.Termed != len(terms) || len(res.Errors) != 0 {
		t.Fatalf("settle %d acks and %d terms on a full store: %d %s", len(acks), len(terms), status, out)
	}
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestBadEndpointsHurtNobodyElse gives four resellers webhooks that hang,
// reset the connection, answer slowly, or answer with 64 MiB, next to one
// healthy webhook and one puller on the same account: the healthy ones get
// every event, ingest keeps answering, and the relay's memory stays
// bounded.
func TestBadEndpointsHurtNobodyElse(t *testing.T) {
	bad := badEndpoints(t) // first, so that they close after the relay is gone
	r := harness.Start(t, append([]string{"RELAY_WEBHOOK_TIMEOUT=1s"}, fastRetries...)...)
	seller := r.RegisterSeller("sell-1")
	tp := r.RegisterReseller("res-pull", "sell-1", "acc-77")
	for name, h := range bad {
		registerWebhook(t, r, name, h.URL)
	}
	ok := newHook(t)
	registerWebhook(t, r, "res-ok", ok.srv.URL)
	drain := harness.StartDrain(func() []string { return []string{r.URL} }, "res-pull", tp)
	defer drain.Stop()

	start := time.Now()
	var ids []string
	for i := range 40 {
		var batch []any
		for k := range 5 {
			id := fmt.Sprintf("b-%02d-%d", i, k)
			batch, ids = append(batch, harness.StateChange(id, "sell-1", "acc-77", "item-"+strconv.Itoa(k), "active")), append(ids, id)
		}
		r.Publish(seller, batch)
	}
	var peak int64
	sample := func() {
		if rss, err := r.RSS(); err == nil {
			peak = max(peak, rss)
		}
	}
	ok.waitFor(t, "every event on the healthy webhook", func(rs []hookReq) bool {
		sample()
		return len(missingFrom(hookIDs(rs), ids)) == 0
	})
	okAfter := time.Since(start)
	if missing := drain.WaitAll(ids, 60*time.Second); len(missing) > 0 {
		t.Fatalf("puller missing %d events", len(missing))
	}
	harness.WaitFor(t, 10*time.Second, "a few more memory samples", func() bool { sample(); return time.Since(start) > okAfter+3*time.Second })
	if status, _ := r.Do("GET", "/readyz", "", nil); status != 200 {
		t.Fatalf("readyz %d while endpoints misbehave", status)
	}
	if peak > 300<<20 {
		t.Fatalf("relay RSS peaked at %d MiB with misbehaving endpoints", peak>>20)
	}
	t.Logf("200 events: healthy webhook had all after %s, puller too; relay RSS peak %d MiB", okAfter.Round(time.Millisecond), peak>>20)
}

// badEndpoints are webhook receivers that misbehave in the ways resellers'
// servers do.
func badEndpoints(t *testing.T) map[string]*httptest.Server {
	closing := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		select { // never answers; the relay's timeout ends it
		case <-req.Context().Done():
		case <-closing:
		}
	}))
	reset := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.(*net.TCPConn).SetLinger(0)
			conn.Close()
		}
	}))
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		select { // a slow server, not a test wait
		case <-time.After(300 * time.Millisecond):
			w.WriteHeader(http.StatusOK)
		case <-req.Context().Done():
		}
	}))
	huge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.WriteHeader(http.StatusOK)
		chunk := make([]byte, 1<<20)
		for range 64 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	for _, s := range []*httptest.Server{hang, reset, slow, huge} {
		t.Cleanup(s.Close)
	}
	t.Cleanup(func() { close(closing) })
	return map[string]*httptest.Server{"res-hang": hang, "res-reset": reset, "res-slow": slow, "res-huge": huge}
}
