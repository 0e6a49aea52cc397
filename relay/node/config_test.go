package node

import (
	"strings"
	"testing"

	"github.com/billrelay/billrelay/relay"
)

// TestConfigNamesWhatCannotWork checks that each impossible combination of
// NATS settings is refused with a message naming the setting.
func TestConfigNamesWhatCannotWork(t *testing.T) {
	cases := []struct {
		name string
		cfg  relay.Config
		want string // "" means valid
	}{
		{"embedded R1", relay.Config{}, ""},
		{"embedded R3", relay.Config{Replicas: 3}, "replicas"},
		{"cluster R3", relay.Config{NATSURL: "nats://a,nats://b", Replicas: 3}, ""},
		{"leaf R3", relay.Config{NATSLeaf: "nats-leaf://hub:7422", NATSDomain: "hub", Replicas: 3}, ""},
		{"leaf and url", relay.Config{NATSLeaf: "nats-leaf://hub:7422", NATSDomain: "hub", NATSURL: "nats://a"}, "nats leaf"},
		{"leaf without domain", relay.Config{NATSLeaf: "nats-leaf://hub:7422"}, "nats domain"},
		{"leaf and listen", relay.Config{NATSLeaf: "nats-leaf://hub:7422", NATSDomain: "hub", NATSListen: "127.0.0.1:4222"}, "nats listen"},
		{"url and listen", relay.Config{NATSURL: "nats://a", NATSListen: "127.0.0.1:4222"}, "nats listen"},
		{"failover too fast", relay.Config{FailoverAfter: 10}, "failover after"},
		{"sixteen delivery shards", relay.Config{DeliveryShards: 16}, ""},
		{"too many delivery shards", relay.Config{DeliveryShards: relay.MaxDeliveryShards + 1}, "delivery shards"},
		{"negative delivery shards", relay.Config{DeliveryShards: -1}, "delivery shards"},
		{"settle reserve too large", relay.Config{SettleReservePercent: 60}, "settle reserve"},
		{"store too small to split", relay.Config{MaxFileStore: 64 << 10}, "max file store"},
		{"negative order rate", relay.Config{OrderRate: -1}, "order rate"},
		{"negative order burst", relay.Config{OrderBurst: -1}, "order burst"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := c.cfg
			cfg.SyncAlways = true
			cfg.SetDefaults()
			err := cfg.Validate()
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("err = %v, want one naming %q", err, c.want)
			}
		})
	}
}
