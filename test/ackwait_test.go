package test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/billrelay/billrelay/test/harness"
)

// ackWait is the relay's ack wait in these tests: short, so that a backlog
// can be several ack waits old before its first pull.
const ackWait = 2 * time.Second

// waitBacklogAge polls the reseller's status until its oldest unacked
// event is older than age: a reseller that was down that long.
func waitBacklogAge(t *testing.T, r *harness.Relay, reseller string, age time.Duration) {
	t.Helper()
	harness.WaitFor(t, age+60*time.Second, "the backlog of "+reseller+" to be "+age.String()+" old", func() bool {
		_, out := r.Do(http.MethodGet, "/v1/resellers/"+reseller, harness.AdminToken, nil)
		var st struct {
			Oldest float64 `json:"oldest_unacked_seconds"`
		}
		return json.Unmarshal(out, &st) == nil && st.Oldest > age.Seconds()
	})
}

type ackAnswer struct {
	Acked, Naked, Termed int
	Errors               []struct {
		AckID  string `json:"ack_id"`
		Reason string `json:"reason"`
	} `json:"errors"`
}

func settle(t *testing.T, r *harness.Relay, reseller, token string, req map[string]any) ackAnswer {
	t.Helper()
	status, out := r.Do(http.MethodPost, "/v1/resellers/"+reseller+"/acks", token, req)
	var a ackAnswer
	if status != http.StatusOK || json.Unmarshal(out, &a) != nil {
		t.Fatalf("acks %s: %d %s", reseller, status, out)
	}
	return a
}

// TestAckContractAfterDowntimeOverHTTP: a reseller pulls a backlog stored
// several ack waits earlier and, within the ack wait of that pull, acks
// one event, naks one with a delay and terminates one. Each is reported
// applied; the naked one comes back after its delay (not at the ack wait),
// the acked one never, the terminated one is a dead letter with its
// reason. A delivery really held past the ack wait is still reported
// expired.
func TestAckContractAfterDowntimeOverHTTP(t *testing.T) {
	r := harness.Start(t, "RELAY_ACK_WAIT="+ackWait.String())
	seller := r.RegisterSeller("sell-1")
	token := r.RegisterReseller("res-a", "sell-1", "acc-77")
	r.Publish(seller, []any{
		harness.StateChange("late-ack", "sell-1", "acc-77", "i1", "active"),
		harness.StateChange("late-nak", "sell-1", "acc-77", "i2", "active"),
		harness.StateChange("late-term", "sell-1", "acc-77", "i3", "active"),
	})
	waitBacklogAge(t, r, "res-a", 3*ackWait)

	got := map[string]harness.Delivery{}
	for _, d := range r.PullN("res-a", token, 3, 30*time.Second) {
		got[d.Event.ID] = d
	}
	const delay = 3 * ackWait
	nakAt := time.Now()
	a := settle(t, r, "res-a", token, map[string]any{
		"ack":  []string{got["late-ack"].AckID},
		"nak":  []map[string]string{{"ack_id": got["late-nak"].AckID, "delay": delay.String()}},
		"term": []map[string]string{{"ack_id": got["late-term"].AckID, "reason": "unknown item i3"}},
	})
	if a.Acked != 1 || a.Naked != 1 || a.Termed != 1 || len(a.Errors) != 0 {
		t.Fatalf("settling a backlog within the ack wait of its pull: %+v; want each applied", a)
	}
	back := r.PullN("res-a", token, 1, 30*time.Second)
	// A lower bound JetStream guarantees for a nak it received, not a
	// timing guess: an ignored nak comes back at the ack wait instead.
	if held := time.Since(nakAt); back[0].Event.ID != "late-nak" || back[0].Attempt != 2 || held < delay {
		t.Fatalf("after the nak got %v attempt %d after %s; want late-nak attempt 2 after its %s delay", harness.IDs(back), back[0].Attempt, held, delay)
	}
	r.AckAll("res-a", token, back)
	if more := r.Pull("res-a", token, 10, 0); len(more) != 0 {
		t.Fatalf("more than an ack wait after the acks: %v; want nothing back", harness.IDs(more))
	}
	dl := waitDeadLetters(t, r, "res-a", 1)
	if len(dl) != 1 || dl[0].Event.ID != "late-term" || !strings.Contains(dl[0].Reason, "unknown item i3") {
		t.Fatalf("dead letters %+v; want late-term alone, with its reason", dl)
	}

	r.Publish(seller, harness.StateChange("held-too-long", "sell-1", "acc-77", "i1", "suspended"))
	first := r.PullN("res-a", token, 1, 30*time.Second)
	again := r.PullN("res-a", token, 1, 30*time.Second) // comes once the first delivery's ack wait ran out
	a = settle(t, r, "res-a", token, map[string]any{"ack": []string{first[0].AckID}})
	if again[0].Attempt != 2 || a.Acked != 0 || len(a.Errors) != 1 || !strings.Contains(a.Errors[0].Reason, "ack_wait expired") {
		t.Fatalf("ack of a delivery held past the ack wait (redelivered as attempt %d): %+v; want it reported expired", again[0].Attempt, a)
	}
	r.AckAll("res-a", token, again)
}

// TestAgentAfterDowntime: an agent started after its reseller's backlog
// is several ack waits old delivers it as it would a fresh one, over the
// relay's HTTP pull API and over NATS: the event its node takes is acked
// once, the one its node answers 503 comes back after the retry delay
// (not at the ack wait) and is delivered, the one its node refuses is a
// dead letter with the node's answer; nothing is refused by the relay.
func TestAgentAfterDowntime(t *testing.T) {
	for _, mode := range []string{"http", "nats"} {
		t.Run(mode, func(t *testing.T) {
			natsPort := harness.FreePort(t)
			r := harness.Start(t, "RELAY_ACK_WAIT="+ackWait.String(), "RELAY_NATS_LISTEN=127.0.0.1:"+strconv.Itoa(natsPort))
			seller := r.RegisterSeller("sell-1")
			token := r.RegisterReseller("res-g", "sell-1", "acc-77")
			r.Publish(seller, []any{
				harness.StateChange("down-ok", "sell-1", "acc-77", "i1", "active"),
				harness.StateChange("down-retry", "sell-1", "acc-77", "i2", "active"),
				harness.StateChange("down-refused", "sell-1", "acc-77", "i3", "active"),
			})
			waitBacklogAge(t, r, "res-g", 3*ackWait)

			node := newHook(t)
			node.setRespond(func(q hookReq, n int) (int, http.Header) {
				switch {
				case q.ID == "down-retry" && n == 1:
					return http.StatusServiceUnavailable, nil
				case q.ID == "down-refused":
					return http.StatusUnprocessableEntity, nil
				}
				return http.StatusOK, nil
			})
			const retry = 3 * ackWait
			env := []string{"AGENT_RESELLER=res-g", "AGENT_TOKEN=" + token, "AGENT_SINK_URL=" + node.srv.URL,
				"AGENT_BACKOFF=" + retry.String() + ",1m"}
			if mode == "http" {
				env = append(env, "AGENT_RELAY_URL="+r.URL, "AGENT_ACK_WAIT="+ackWait.String())
			} else {
				env = append(env, "AGENT_NATS_URL=nats://127.0.0.1:"+strconv.Itoa(natsPort), "AGENT_STREAM="+resellerStream(t, r, "res-g"))
			}
			a := harness.StartAgent(t, env...)

			rs := node.waitFor(t, "down-retry delivered again", func(rs []hookReq) bool { return countID(rs, "down-retry") >= 2 })
			var failedAt, retriedAt time.Time
			for _, q := range rs {
				if q.ID == "down-retry" && failedAt.IsZero() {
					failedAt = q.At
				} else if q.ID == "down-retry" {
					retriedAt = q.At
				}
			}
			// The agent's retry delay has ±20% jitter; the lower bound is
			// still twice the ack wait, where an ignored nak comes back.
			if gap := retriedAt.Sub(failedAt); gap < retry*8/10 {
				t.Fatalf("down-retry came back %s after its failure; want its retry delay (%s ±20%%), not the ack wait", gap, retry)
			}
			dl := waitDeadLetters(t, r, "res-g", 1)
			if len(dl) != 1 || dl[0].Event.ID != "down-refused" || !strings.Contains(dl[0].Reason, "422") {
				t.Fatalf("dead letters %+v; want down-refused alone, with the node's answer", dl)
			}
			harness.WaitFor(t, 30*time.Second, "res-g to have nothing pending", func() bool {
				l := r.ResellerLag("res-g")
				return l.Pending == 0 && l.AckPending == 0
			})
			logs := a.Logs()
			if strings.Contains(logs, "relay refused") || strings.Contains(logs, "ack_wait expired") {
				t.Fatalf("the relay refused the agent's settlements:\n%s", logs)
			}
			if n := attemptsLogged(logs, "down-ok"); n != 1 {
				t.Fatalf("down-ok was handled %d times by the agent, want once:\n%s", n, logs)
			}
		})
	}
}

// attemptsLogged counts the agent's "delivered" lines of one event: a
// second one means the event came back after it was acked (the node
// itself would not see it twice, the agent skips what it delivered).
func attemptsLogged(logs, id string) int {
	n := 0
	for _, line := range strings.Split(logs, "\n") {
		var l struct {
			EventID string `json:"event_id"`
			Message string `json:"message"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.EventID == id && l.Message == "delivered" {
			n++
		}
	}
	return n
}
