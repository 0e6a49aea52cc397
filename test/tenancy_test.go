package test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/tenancy"
	"github.com/billrelay/billrelay/test/harness"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestNATSPermissionMatrix: every principal that can reach the relay's
// NATS listener (two resellers, a reseller with a numeric id, a seller, a
// wrong password, no credentials) tries every subject class (the
// JetStream API of every kind, the registry bucket, every stream's
// subjects, other consumers' next and ack subjects in both forms, other
// inboxes, $SYS) by publish, subscribe, request, and request with a
// foreign reply subject: the attacker's own allowed requests too, with the
// relay's API, bucket and stream subjects as their reply. Afterwards
// nothing changed: every stream's and bucket's message count, the
// consumers, the victims' consumer states and registrations; nothing
// foreign reached any subscription; and each victim still acks what it
// held and pulls every event it was sent.
func TestNATSPermissionMatrix(t *testing.T) {
	natsPort := harness.FreePort(t)
	natsURL := "nats://127.0.0.1:" + strconv.Itoa(natsPort)
	// A long ack wait: what an attacker pulls from its own consumer stays
	// pending, so no redelivery moves the figures while they are compared.
	r := harness.Start(t, "RELAY_NATS_LISTEN=127.0.0.1:"+strconv.Itoa(natsPort), "RELAY_ACK_WAIT=10m")
	sellerToken := r.RegisterSeller("sell-1")
	tokens := map[string]string{}
	for _, id := range []string{"res-a", "res-b", "42"} {
		tokens[id] = r.RegisterReseller(id, "sell-1", "acc-77")
	}
	var sent []string
	for i := range 6 {
		id := fmt.Sprintf("pm-%d", i)
		sent = append(sent, id)
		r.Publish(sellerToken, harness.StateChange(id, "sell-1", "acc-77", strconv.Itoa(i), "active"))
	}
	harness.WaitFor(t, 30*time.Second, "every copy routed", func() bool {
		return r.ResellerLag("res-a").Pending == len(sent) && r.ResellerLag("42").Pending == len(sent) &&
			r.ResellerLag("res-b").Pending == len(sent)
	})
	// Each reseller reads over NATS and holds one delivery un-acked, so
	// that a live ack subject of every consumer exists to be attacked.
	held := map[string]jetstream.Msg{}
	clients := map[string]*nats.Conn{}
	for id, tok := range tokens {
		clients[id] = natsConnect(t, natsURL, id, tok)
		held[id] = fetchOwn(t, clients[id], id)
	}
	for _, who := range []struct{ user, password string }{
		{"sell-1", sellerToken}, {"res-a", tokens["res-b"]}, {"res-a", "wrong"}, {"", ""}, {"billrelay-internal", tokens["res-a"]},
	} {
		opts := []nats.Option{nats.MaxReconnects(0)}
		if who.user != "" {
			opts = append(opts, nats.UserInfo(who.user, who.password))
		}
		if nc, err := nats.Connect(natsURL, opts...); err == nil {
			nc.Close()
			t.Fatalf("%q connected with a password that is not its own", who.user)
		}
	}
	for _, round := range []struct {
		victim    string
		attackers []string
	}{{"res-b", []string{"res-a", "42"}}, {"res-a", []string{"res-b"}}} {
		before := observe(t, r, round.victim, time.Now())
		leaks := &leakLog{}
		for _, a := range round.attackers {
			attack(t, clients[a], a, round.victim, held[round.victim], leaks)
			if err := clients[a].Flush(); err != nil {
				t.Fatal(err)
			}
		}
		after := observe(t, r, round.victim, time.Now())
		for k, v := range before {
			if after[k] != v {
				t.Errorf("attacking %s changed %s: %s before, %s after", round.victim, k, v, after[k])
			}
		}
		if l := leaks.get(); len(l) > 0 {
			t.Fatalf("foreign messages reached an attacker of %s:\n%s", round.victim, strings.Join(l, "\n"))
		}
		// Nobody else acked, termed or naked what the victim holds: it acks
		// it now, and (before it attacks anyone itself) pulls every other.
		if err := held[round.victim].DoubleAck(t.Context()); err != nil {
			t.Fatalf("%s acking what it held: %v (another tenant settled it)", round.victim, err)
		}
		if round.victim == "res-b" {
			got := []string{held["res-b"].Headers().Get("Relay-Event-Id")}
			for _, d := range r.PullAll("res-b", tokens["res-b"], 5*time.Second) {
				got = append(got, d.Event.ID)
			}
			if len(unique(got)) != len(sent) {
				t.Fatalf("res-b pulled %v after the attacks, want every one of %v", got, sent)
			}
		}
	}
}

// natsConnect connects a reseller the way the agent does.
func natsConnect(t *testing.T, url, user, password string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.UserInfo(user, password), nats.CustomInboxPrefix(tenancy.InboxPrefix(user)),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {})) // permission errors are expected
	if err != nil {
		t.Fatalf("%s connect: %v", user, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func fetchOwn(t *testing.T, nc *nats.Conn, id string) jetstream.Msg {
	t.Helper()
	js, _ := jetstream.New(nc)
	cons, err := js.Consumer(t.Context(), relay.StreamDelivery, id)
	if err != nil {
		t.Fatalf("%s reads its own consumer: %v", id, err)
	}
	b, err := cons.Fetch(1, jetstream.FetchMaxWait(10*time.Second))
	if err != nil {
		t.Fatalf("%s fetch: %v", id, err)
	}
	for m := range b.Messages() {
		return m
	}
	t.Fatalf("%s fetched nothing", id)
	return nil
}

// attack tries every subject class from attacker's connection against
// victim, whose held delivery has the ack subject victimAck.
func attack(t *testing.T, nc *nats.Conn, attacker, victim string, victimMsg jetstream.Msg, leaks *leakLog) {
	t.Helper()
	victimAck := victimMsg.Reply()
	md, err := victimMsg.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	seq, eventID := md.Sequence.Stream, victimMsg.Headers().Get("Relay-Event-Id")
	ownNext := "$JS.API.CONSUMER.MSG.NEXT.DELIVERY." + attacker
	ownInfo := "$JS.API.CONSUMER.INFO.DELIVERY." + attacker
	v2Victim := "$JS.ACK._." + tenancy.AccountHash("$G") + ".DELIVERY." + victim + ".1." + ackTail(victimAck)
	targets := []string{
		// the JetStream API, every kind
		"$JS.API.INFO", "$JS.API.STREAM.LIST", "$JS.API.STREAM.NAMES", "$JS.API.STREAM.INFO.DELIVERY",
		"$JS.API.STREAM.PURGE.DELIVERY", "$JS.API.STREAM.PURGE.EVENTS", "$JS.API.STREAM.PURGE.INGEST",
		"$JS.API.STREAM.DELETE.DELIVERY", "$JS.API.STREAM.UPDATE.DELIVERY", "$JS.API.STREAM.CREATE.EVIL",
		"$JS.API.STREAM.MSG.GET.DELIVERY", "$JS.API.STREAM.MSG.DELETE.DELIVERY", "$JS.API.DIRECT.GET.EVENTS",
		"$JS.API.CONSUMER.DELETE.DELIVERY." + victim, "$JS.API.CONSUMER.CREATE.DELIVERY.evil",
		"$JS.API.CONSUMER.DURABLE.CREATE.DELIVERY.evil", "$JS.API.CONSUMER.INFO.DELIVERY." + victim,
		"$JS.API.CONSUMER.MSG.NEXT.DELIVERY." + victim, "$JS.API.CONSUMER.PAUSE.DELIVERY." + victim,
		"$JS.API.CONSUMER.LIST.DELIVERY", "$JS.API.CONSUMER.NAMES.DELIVERY", "$JS.API.CONSUMER.UNPIN.DELIVERY.router",
		"$JS.API.STREAM.INFO.KV_RELAY_REGISTRY", "$JS.API.DIRECT.GET.KV_RELAY_REGISTRY.$KV.RELAY_REGISTRY.reseller." + victim,
		// the registry bucket
		"$KV.RELAY_REGISTRY.reseller." + victim, "$KV.RELAY_REGISTRY.seller.sell-1", "$KV.RELAY_REGISTRY.secret.ackkey",
		// every stream's subjects
		"events.sell-1.acc-77.0", "deliver." + victim + ".sell-1.acc-77.poison", "ingest.commit", "orders.sell-1." + victim + ".acc-77.1",
		"dlq." + victim, "ops.paused", "audit.x", "receipts.DELIVERY." + victim + ".sell-1.acc-77.0",
		"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.DELIVERY." + victim, "$BR.RECEIPTS." + victim,
		// the victim's acks, v1 and v2, and a v1 subject shaped to match a v2 wildcard
		victimAck, v2Victim, "$JS.ACK.DELIVERY." + victim + ".DELIVERY." + attacker + ".1.1.1",
		// inboxes and the system account
		"_INBOX_" + victim + ".x", "_INBOX.x", "$SYS.REQ.SERVER.PING", "$SYS.REQ.ACCOUNT.$G.CONNZ", "$SYS.REQ.SERVER.PING.JSZ",
	}
	payloads := [][]byte{[]byte(`{}`), []byte(`{"seq":1}`), []byte(`{"batch":1,"no_wait":true}`), []byte("+ACK"),
		[]byte("+TERM evil"), []byte("+NXT {\"batch\":1}"), []byte("-NAK"), nil}
	for _, subj := range targets {
		for i, p := range payloads {
			pub(nc, subj, "", p)
			pub(nc, subj, "_INBOX_"+attacker+".answer", p)
			if i > 2 {
				continue // every reply with the payloads that ask for an answer
			}
			for _, reply := range targets {
				if !strings.HasPrefix(reply, "_INBOX_") && reply != victimAck {
					pub(nc, subj, reply, p)
				}
			}
		}
		leaks.listen(t, nc, subj)
	}
	for _, sub := range []string{">", "$JS.>", "$JS.ACK.>", "$KV.>", "deliver.>", "_INBOX_" + victim + ".>", "_INBOX.>", "$SYS.>", "$BR.>"} {
		leaks.listen(t, nc, sub)
	}
	// The attacker's own allowed requests, answered to a foreign reply:
	// the answer must land in the attacker's account, nowhere else.
	for _, reply := range targets {
		pub(nc, ownNext, reply, []byte(`{"batch":1,"no_wait":true}`))
		pub(nc, ownNext, reply, []byte(`{"batch":1,"expires":1000000}`))
		pub(nc, ownInfo, reply, nil)
	}
	// Forged receipts: another consumer named, another's delivery claimed,
	// oversized, malformed, and a flood.
	forged := []string{
		fmt.Sprintf(`{"stream":"DELIVERY","consumer":%q,"seq":%d,"event_id":%q,"action":"applied"}`, victim, seq, eventID),
		fmt.Sprintf(`{"seq":%d,"event_id":%q,"action":"rejected","reason":"forged"}`, seq, eventID),
		fmt.Sprintf(`{"seq":%d,"event_id":%q,"action":"applied"}`, seq, eventID) + strings.Repeat(" ", 5000),
		`not json`, `{"seq":0}`, `{"seq":999999,"event_id":"x","action":"applied"}`,
	}
	for i := range 3000 {
		pub(nc, "receipts.DELIVERY."+attacker+".sell-1.acc-77.x", "", []byte(forged[i%len(forged)]))
	}
}

func pub(nc *nats.Conn, subj, reply string, data []byte) {
	_ = nc.PublishMsg(&nats.Msg{Subject: subj, Reply: reply, Data: data})
}

// ackTail is the part of a v1 ack subject after stream and consumer.
func ackTail(v1 string) string {
	parts := strings.SplitN(v1, ".", 5)
	if len(parts) < 5 {
		return "1.1.1.1"
	}
	return parts[4]
}

// leakLog records anything foreign that reaches a subscription of an
// attacker.
type leakLog struct {
	mu sync.Mutex
	l  []string
}

func (l *leakLog) listen(t *testing.T, nc *nats.Conn, subj string) {
	_, _ = nc.Subscribe(subj, func(m *nats.Msg) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.l = append(l.l, fmt.Sprintf("on %s: %q", m.Subject, truncate(m.Data)))
	})
}

func (l *leakLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.l
}

func truncate(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}

// observe reads what an attack on victim could change: every stream's and
// bucket's message count and consumers (from /metrics, read after since),
// the victim's consumer state, every registration, the dead letters.
func observe(t *testing.T, r *harness.Relay, victim string, since time.Time) map[string]string {
	t.Helper()
	out := map[string]string{}
	harness.WaitFor(t, 30*time.Second, "stream figures read after "+since.Format(time.RFC3339Nano), func() bool {
		clear(out)
		fresh := false
		status, body := r.Do(http.MethodGet, "/metrics", "", nil)
		if status != http.StatusOK {
			return false
		}
		sc := bufio.NewScanner(strings.NewReader(string(body)))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			switch {
			case len(f) != 2:
			case f[0] == "billrelay_figures_read_timestamp_seconds":
				sec, _ := strconv.ParseFloat(f[1], 64)
				fresh = time.Unix(0, int64(sec*1e9)).After(since)
			case strings.HasPrefix(f[0], "billrelay_stream_messages"), strings.HasPrefix(f[0], "billrelay_stream_consumers"):
				out[f[0]] = f[1]
			}
		}
		return fresh && len(out) > 0
	})
	_, list := r.Do(http.MethodGet, "/v1/resellers", harness.AdminToken, nil)
	var regs struct{ Resellers []map[string]any }
	if err := json.Unmarshal(list, &regs); err != nil {
		t.Fatalf("GET /v1/resellers: %s", list)
	}
	for _, reg := range regs.Resellers {
		id, _ := reg["id"].(string)
		keys := []string{"seller", "accounts", "paused", "stream", "webhook"}
		if id == victim { // an attacker's own pulls move its own figures
			keys = append(keys, "pending", "ack_pending", "redelivered", "waiting", "last_delivered", "last_acked")
		}
		for _, k := range keys {
			b, _ := json.Marshal(reg[k])
			out["reseller "+id+" "+k] = string(b)
		}
	}
	_, dlq := r.Do(http.MethodGet, "/v1/dlq?all=true", harness.AdminToken, nil)
	out["dlq"] = string(dlq)
	return out
}

// TestNATSConfigIsolatesOnACluster: on an external nats-server, the
// accounts that `billrelay nats-config` writes give resellers the same
// isolation as the embedded server: each reads its own consumer with its
// API token, and the attacks of the matrix change nothing.
func TestNATSConfigIsolatesOnACluster(t *testing.T) {
	t.Setenv("BILLRELAY_NATS_PASSWORD", "relay-secret")
	dir := t.TempDir()
	accounts := filepath.Join(dir, "accounts.conf")
	writeFile(t, accounts, tenancy.AccountsConfig("BILLRELAY", "", nil))
	main := filepath.Join(dir, "nats.conf")
	writeFile(t, main, "include ./accounts.conf\n")
	n := harness.StartNATS(t, "-c", main)
	r := harness.Start(t, "RELAY_NATS_URL=nats://billrelay:relay-secret@127.0.0.1:"+strconv.Itoa(n.Port))
	seller := r.RegisterSeller("sell-1")
	tokens := map[string]string{"res-a": r.RegisterReseller("res-a", "sell-1", "acc-77"),
		"res-b": r.RegisterReseller("res-b", "sell-1", "acc-77")}
	for i := range 3 {
		r.Publish(seller, harness.StateChange(fmt.Sprintf("nc-%d", i), "sell-1", "acc-77", strconv.Itoa(i), "active"))
	}
	harness.WaitFor(t, 30*time.Second, "copies routed", func() bool { return r.ResellerLag("res-b").Pending == 3 })

	out, errOut, code := r.CLI("nats-config")
	if code != 0 {
		t.Fatalf("nats-config: exit %d: %s", code, errOut)
	}
	writeFile(t, accounts, out)
	// A restart, not a reload: after a SIGHUP reload, nats-server 2.15.2
	// answered the new accounts' imported requests with no responders.
	n.Kill()
	n.Start()
	a := natsConnect(t, n.URL, "res-a", tokens["res-a"])
	b := natsConnect(t, n.URL, "res-b", tokens["res-b"])
	// The relay answers consumer info itself: wait until it is back on the
	// restarted server, as an agent keeps asking.
	js, _ := jetstream.New(a)
	harness.WaitFor(t, 30*time.Second, "the relay to answer res-a's consumer info", func() bool {
		_, err := js.Consumer(t.Context(), relay.StreamDelivery, "res-a")
		return err == nil
	})
	own := fetchOwn(t, a, "res-a")
	victim := fetchOwn(t, b, "res-b")
	before := observe(t, r, "res-b", time.Now())
	leaks := &leakLog{}
	attack(t, a, "res-a", "res-b", victim, leaks)
	if err := a.Flush(); err != nil {
		t.Fatal(err)
	}
	after := observe(t, r, "res-b", time.Now())
	for k, v := range before {
		if after[k] != v {
			t.Errorf("attacking res-b changed %s: %s before, %s after", k, v, after[k])
		}
	}
	if l := leaks.get(); len(l) > 0 {
		t.Fatalf("foreign messages reached res-a:\n%s", strings.Join(l, "\n"))
	}
	for _, m := range []jetstream.Msg{own, victim} {
		if err := m.DoubleAck(t.Context()); err != nil {
			t.Fatalf("acking its own delivery: %v", err)
		}
	}
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}
