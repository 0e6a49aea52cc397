package test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/billrelay/billrelay/test/harness"
)

// TestAgentOverNATSSurvivesRelayKill: an agent reads its reseller's
// consumer over NATS and posts to the billing node's endpoint; the relay is
// killed with -9 half way and restarted; every event arrives, each item in
// order. The relay spreads resellers over delivery shards, so the agent
// reads (and its NATS permissions cover) the reseller's own stream.
func TestAgentOverNATSSurvivesRelayKill(t *testing.T) {
	natsPort := harness.FreePort(t)
	r := harness.Start(t, "RELAY_NATS_LISTEN=127.0.0.1:"+strconv.Itoa(natsPort), "RELAY_DELIVERY_SHARDS=8")
	seller := r.RegisterSeller("sell-1")
	token := r.RegisterReseller("res-n", "sell-1", "acc-77")
	stream := resellerStream(t, r, "res-n")
	if stream == "DELIVERY" {
		t.Fatalf("res-n placed on DELIVERY; pick an id that hashes to another shard")
	}
	node := newHook(t)
	a := harness.StartAgent(t, "AGENT_RESELLER=res-n", "AGENT_TOKEN="+token, "AGENT_STREAM="+stream,
		"AGENT_NATS_URL=nats://127.0.0.1:"+strconv.Itoa(natsPort), "AGENT_SINK_URL="+node.srv.URL, "AGENT_BACKOFF=100ms,200ms")
	publishItems(r, seller, "first", 12)
	node.waitFor(t, "the first half", func(rs []hookReq) bool { return len(unique(hookIDs(rs))) >= 12 })
	r.Kill()
	r.Restart()
	publishItems(r, seller, "second", 12)
	rs := node.waitFor(t, "every event after the restart", func(rs []hookReq) bool { return len(unique(hookIDs(rs))) >= 24 })
	checkItemOrder(t, rs)
	if !strings.Contains(a.Logs(), "relay connection back") {
		t.Fatalf("the agent did not report reconnecting:\n%s", a.Logs())
	}
	harness.WaitFor(t, 30*time.Second, "the agent's receipts to show no drift", func() bool {
		_, out := r.Do(http.MethodPost, "/v1/resellers/res-n/reconcile", harness.AdminToken, nil)
		return strings.Contains(string(out), `"checked":3`) && strings.Contains(string(out), `"items":[]`)
	})
}

// TestAgentOverHTTPWithCommand: an agent that can reach the relay only
// over HTTP runs a command per event; exit code 3 ("unknown item")
// terminates the event, which lands in the relay's dead letters, while
// everything else is delivered, also across a relay kill.
func TestAgentOverHTTPWithCommand(t *testing.T) {
	httpPort := harness.FreePort(t)
	r := harness.Start(t, "RELAY_HTTP_ADDR=127.0.0.1:"+strconv.Itoa(httpPort))
	seller := r.RegisterSeller("sell-1")
	token := r.RegisterReseller("res-h", "sell-1", "acc-77")
	out := t.TempDir()
	cmd := fmt.Sprintf(`if [ "$BILLRELAY_ITEM" = ghost ]; then echo "unknown item $BILLRELAY_ITEM" >&2; exit 3; fi; cat > %s/"$BILLRELAY_EVENT_ID".json`, out)
	harness.StartAgent(t, "AGENT_RESELLER=res-h", "AGENT_TOKEN="+token, "AGENT_RELAY_URL="+r.URL,
		"AGENT_SINK_COMMAND="+cmd, "AGENT_BACKOFF=100ms,200ms")
	r.Publish(seller, []any{
		harness.StateChange("cmd-1", "sell-1", "acc-77", "16643", "active"),
		harness.StateChange("cmd-ghost", "sell-1", "acc-77", "ghost", "active"),
	})
	harness.WaitFor(t, 60*time.Second, "cmd-1 to be run", func() bool { return exists(filepath.Join(out, "cmd-1.json")) })
	r.Kill()
	r.Restart()
	r.Publish(seller, harness.StateChange("cmd-2", "sell-1", "acc-77", "16643", "suspended"))
	harness.WaitFor(t, 60*time.Second, "cmd-2 after the relay restart", func() bool { return exists(filepath.Join(out, "cmd-2.json")) })
	var list struct {
		Entries []struct {
			Reason string
			Event  struct{ ID string }
		}
	}
	harness.WaitFor(t, 60*time.Second, "the unknown item's dead letter", func() bool {
		_, b := r.Do(http.MethodGet, "/v1/dlq?reseller=res-h", harness.AdminToken, nil)
		_ = json.Unmarshal(b, &list)
		return len(list.Entries) == 1
	})
	if list.Entries[0].Event.ID != "cmd-ghost" || !strings.Contains(list.Entries[0].Reason, "unknown item ghost") {
		t.Fatalf("dead letter %+v", list.Entries[0])
	}
	if exists(filepath.Join(out, "cmd-ghost.json")) {
		t.Fatalf("the unknown item was applied")
	}
}

func publishItems(r *harness.Relay, seller, prefix string, n int) {
	var batch []any
	for i := range n {
		batch = append(batch, harness.StateChange(fmt.Sprintf("%s-%02d", prefix, i), "sell-1", "acc-77", "item-"+strconv.Itoa(i%3), "active"))
	}
	r.Publish(seller, batch)
}

func hookIDs(rs []hookReq) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

// checkItemOrder checks that, per item, first deliveries came in id order
// (ids were published in that order and sort the same way).
func checkItemOrder(t *testing.T, rs []hookReq) {
	t.Helper()
	last := map[string]string{}
	seen := map[string]bool{}
	for _, r := range rs {
		if seen[r.ID] {
			continue
		}
		seen[r.ID] = true
		if prev := last[r.Item]; prev > r.ID {
			t.Fatalf("item %s: %s delivered after %s", r.Item, r.ID, prev)
		}
		last[r.Item] = r.ID
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// resellerStream reads the delivery stream a reseller was placed on.
func resellerStream(t *testing.T, r *harness.Relay, id string) string {
	t.Helper()
	status, body := r.Do(http.MethodGet, "/v1/resellers/"+id, harness.AdminToken, nil)
	var v struct{ Stream string }
	if status != http.StatusOK || json.Unmarshal(body, &v) != nil || v.Stream == "" {
		t.Fatalf("GET reseller %s: %d %s", id, status, body)
	}
	return v.Stream
}
