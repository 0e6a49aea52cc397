package tenancy

import (
	"fmt"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"
)

// TestChangedClosesTheOldLogins: a reseller given a new token, or
// deleted, loses the connections it made before at once, and only its
// current token logs in.
func TestChangedClosesTheOldLogins(t *testing.T) {
	b := startBench(t, nil)
	old := b.register(t, "res-a")["res-a"]
	c, err := connectAs(t, b.url, "res-a", old)
	if err != nil {
		t.Fatal(err)
	}
	b.reg.put("res-a", "brr_new_token")
	waitClosed(t, c.closed, "the connection made with the old token")
	mustRefuse(t, b.url, "res-a", old, "the old token still connects")
	c, err = connectAs(t, b.url, "res-a", "brr_new_token")
	if err != nil {
		t.Fatalf("the new token does not connect: %v", err)
	}
	b.reg.remove("res-a")
	waitClosed(t, c.closed, "the connection of the deleted reseller")
	mustRefuse(t, b.url, "res-a", "brr_new_token", "a deleted reseller still connects")
}

// TestRevokedTokenKeepsNoConnection: logins with a token race its
// replacement; every connection made with the old token is closed, none
// survives the sweep.
func TestRevokedTokenKeepsNoConnection(t *testing.T) {
	b := startBench(t, nil)
	token := b.register(t, "res-a")["res-a"]
	for round := range 20 {
		old := token
		var (
			mu    sync.Mutex
			made  []chan struct{}
			stop  = make(chan struct{})
			some  = make(chan struct{}, 1000)
			group sync.WaitGroup
		)
		for range 6 {
			group.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					c, err := connectAs(t, b.url, "res-a", old)
					if err != nil {
						return // the new token is in force
					}
					mu.Lock()
					made = append(made, c.closed)
					mu.Unlock()
					some <- struct{}{}
				}
			})
		}
		for range 12 { // logins are running when the token changes
			<-some
		}
		token = fmt.Sprintf("brr_round_%d", round)
		b.reg.put("res-a", token)
		close(stop)
		group.Wait()
		for _, closed := range made {
			waitClosed(t, closed, fmt.Sprintf("round %d: a connection made with the replaced token", round))
		}
	}
}

// TestTenantGuardBoundsWhatATenantCosts: a reseller that leaves the
// server waiting with thousands of unanswered requests (each holds a
// response mapping in the relay's account) or thousands of subscriptions
// is closed and kept out until its ban ends; another reseller is
// untouched; and no reseller holds more than its connection bound.
func TestTenantGuardBoundsWhatATenantCosts(t *testing.T) {
	b := startBench(t, nil)
	tokens := b.register(t, "res-a", "res-b")
	b.runGuard(t)
	g, err := b.emb.Server().LookupAccount(relayAccount)
	if err != nil {
		t.Fatal(err)
	}
	for _, flood := range []struct {
		name string
		do   func(nc *nats.Conn, i int)
	}{
		{"unanswered fetches", func(nc *nats.Conn, i int) {
			_ = nc.PublishRequest("$JS.API.CONSUMER.MSG.NEXT.DELIVERY.res-a", fmt.Sprintf("_INBOX_res-a.f.%d", i), []byte(`{"batch":1,"no_wait":true}`))
		}},
		{"subscriptions", func(nc *nats.Conn, i int) { _, _ = nc.SubscribeSync(fmt.Sprintf("_INBOX_res-a.s.%d", i)) }},
	} {
		t.Run(flood.name, func(t *testing.T) {
			c, err := connectAs(t, b.url, "res-a", tokens["res-a"])
			if err != nil {
				t.Fatal(err)
			}
			_, _ = c.nc.SubscribeSync("_INBOX_res-a.f.>")
			for i := 0; i < 20_000; i++ {
				select {
				case <-c.closed:
					i = 20_000
				default:
					flood.do(c.nc, i)
				}
			}
			waitClosed(t, c.closed, "the flooding reseller's connection")
			mustRefuse(t, b.url, "res-a", tokens["res-a"], "the reseller closed by the guard connected again at once")
			t.Logf("response mappings in the relay's account after the guard: %d", g.NumPendingAllResponses())
			b.clock.advance(banMax)
			again, err := connectAs(t, b.url, "res-a", tokens["res-a"])
			if err != nil {
				t.Fatalf("the reseller is still kept out after its ban: %v", err)
			}
			again.nc.Close()
		})
	}
	rb, err := connectAs(t, b.url, "res-b", tokens["res-b"])
	if err != nil {
		t.Fatalf("res-b kept out by res-a's floods: %v", err)
	}
	if _, err := rb.js.Consumer(t.Context(), "DELIVERY", "res-b"); err != nil {
		t.Fatalf("res-b's consumer info: %v", err)
	}
	conns := 1 // rb
	for ; conns <= 100; conns++ {
		if _, err := connectAs(t, b.url, "res-b", tokens["res-b"]); err != nil {
			break
		}
	}
	if conns != maxTenantConns {
		t.Fatalf("%d connections of res-b admitted, want the bound of %d", conns, maxTenantConns)
	}
}
