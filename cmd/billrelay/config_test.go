package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/billrelay/billrelay/relay"
)

func TestDefaultsAreDurable(t *testing.T) {
	t.Setenv("RELAY_SYNC_INTERVAL", "")
	c, err := loadConfig()
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	rc := c.relay()
	if !rc.SyncAlways || c.HTTPAddr != "127.0.0.1:8080" || c.DataDir != "./data" || rc.MaxConsumers != 4096 {
		t.Fatalf("defaults: %+v", rc)
	}
	t.Setenv("RELAY_SYNC_INTERVAL", "2m")
	c, err = loadConfig()
	if err != nil || c.relay().SyncAlways || c.relay().SyncInterval != 2*time.Minute {
		t.Fatalf("RELAY_SYNC_INTERVAL=2m: %+v, %v", c.SyncInterval, err)
	}
}

func TestBadConfigNamesTheVariable(t *testing.T) {
	tests := map[string]string{
		"RELAY_SYNC_INTERVAL":  "sometimes",
		"RELAY_MAX_FILE_STORE": "lots",
		"RELAY_ACK_WAIT":       "forever",
		"RELAY_LOG_LEVEL":      "loud",
		"RELAY_CALLBACK_ALLOW": "10.0.0.0/8,intranet",
		"RELAY_MAX_HUBS":       "0",
	}
	for name, val := range tests {
		t.Run(name, func(t *testing.T) {
			t.Setenv(name, val)
			_, err := loadConfig()
			if err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(name, "RELAY_")) {
				t.Fatalf("%s=%s: %v, want an error naming it", name, val, err)
			}
		})
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]int64{"16GiB": 16 << 30, "512MiB": 512 << 20, "1GB": 1e9, "1024": 1024, "2 KiB": 2048} {
		var b byteSize
		if err := b.Decode(in); err != nil || int64(b) != want {
			t.Errorf("%q → %d, %v; want %d", in, b, err, want)
		}
	}
}

// FuzzConfigValues: the size and sync parsers never panic and never accept
// a non-positive value.
func FuzzConfigValues(f *testing.F) {
	f.Add("16GiB")
	f.Add("always")
	f.Add("-5MB")
	f.Fuzz(func(t *testing.T, v string) {
		var b byteSize
		if b.Decode(v) == nil && b <= 0 {
			t.Fatalf("accepted size %q as %d", v, b)
		}
		var s syncInterval
		if s.Decode(v) == nil && !s.always && s.every <= 0 {
			t.Fatalf("accepted sync interval %q as %v", v, s.every)
		}
		var l cidrList
		if l.Decode(v) == nil && len(l) > strings.Count(v, ",")+1 {
			t.Fatalf("read %q as %d prefixes", v, len(l))
		}
	})
}

func TestCallbackAllow(t *testing.T) {
	t.Setenv("RELAY_CALLBACK_ALLOW", " 10.20.0.0/16, 127.0.0.1 ,fd12::/48")
	c, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(c.relay().CallbackAllow)
	if got != "[10.20.0.0/16 127.0.0.1/32 fd12::/48]" || c.relay().MaxHubs != 10 {
		t.Fatalf("RELAY_CALLBACK_ALLOW read as %s, max hubs %d", got, c.relay().MaxHubs)
	}
}

// TestTenantBoundDefaultsAreRelays: the variables' defaults are the
// relay's own, so the README's table and both packages agree.
func TestTenantBoundDefaultsAreRelays(t *testing.T) {
	c, err := loadConfig()
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	if c.SettleReservePercent != relay.DefaultSettleReservePercent || c.OrderRate != relay.DefaultOrderRate || c.OrderBurst != relay.DefaultOrderBurst {
		t.Fatalf("defaults %d %g %d, relay's %d %g %d", c.SettleReservePercent, c.OrderRate, c.OrderBurst,
			relay.DefaultSettleReservePercent, relay.DefaultOrderRate, relay.DefaultOrderBurst)
	}
}
