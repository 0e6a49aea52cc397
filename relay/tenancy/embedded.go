package tenancy

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/billrelay/billrelay/relay"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

// maxPayload leaves room for a commit group's envelope.
const maxPayload = 8 << 20

// Embedded is the in-process nats-server, the resellers' accounts on it
// and the password of the relay's own user, which never leaves the
// process.
type Embedded struct {
	ns   *server.Server
	auth *natsAuth
}

// Start runs nats-server in-process with JetStream on disk under
// cfg.DataDir. The store limits and the consumer limit are set explicitly,
// never left to the server's defaults, so that the relay behaves the same on
// every machine. syncInterval is the periodic fsync, which the store
// decides (it depends on how the streams sync their writes). Resellers
// log in against reg.
func Start(cfg relay.Config, syncInterval time.Duration, reg Registry, log zerolog.Logger) (*Embedded, error) {
	auth := &natsAuth{password: newInternalPassword()}
	opts := &server.Options{
		ServerName:         cfg.ServerName,
		JetStream:          true,
		StoreDir:           filepath.Join(cfg.DataDir, "jetstream"),
		DontListen:         true,
		NoSigs:             true,
		MaxPayload:         maxPayload,
		JetStreamMaxStore:  cfg.MaxFileStore,
		JetStreamMaxMemory: cfg.MaxMemStore,
		SyncAlways:         cfg.SyncAlways,
		SyncInterval:       syncInterval,
		JetStreamLimits:    server.JSLimitOpts{DefaultMaxConsumers: cfg.MaxConsumers},
		FeatureFlags:       cfg.FeatureFlags,
	}
	if cfg.NATSLeaf != "" {
		remote, err := leafRemote(cfg.NATSLeaf, cfg.NATSCredsFile)
		if err != nil {
			return nil, err
		}
		opts.JetStream = false // the hub's JetStream answers through the leaf connection
		opts.LeafNode.Remotes = []*server.RemoteLeafOpts{remote}
	}
	if cfg.NATSListen != "" {
		host, port, err := listenOptions(cfg.NATSListen)
		if err != nil {
			return nil, err
		}
		opts.DontListen, opts.Host, opts.Port = false, host, port
		opts.CustomClientAuthentication = auth
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("create embedded nats server: %w", err)
	}
	auth.tenants = newAccounts(ns, reg, tenantDomain(cfg), log.With().Str("component", "tenancy").Logger())
	ns.SetLoggerV2(natsLogger{log.With().Str("component", "nats").Logger()}, false, false, false)
	ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("embedded nats server not ready after 30s")
	}
	if cfg.NATSListen != "" {
		log.Info().Str("nats_url", ns.ClientURL()).Msg("nats listening for resellers")
	}
	return &Embedded{ns: ns, auth: auth}, nil
}

// Server is the running nats-server.
func (e *Embedded) Server() *server.Server { return e.ns }

// Accounts are the resellers' accounts on the server.
func (e *Embedded) Accounts() *Accounts { return e.auth.tenants }

// ConnectOptions connect the relay's own client in-process, as the one
// user of the relay's account.
func (e *Embedded) ConnectOptions() []nats.Option {
	return []nats.Option{nats.InProcessServer(e.ns), nats.UserInfo(internalUser, e.auth.password)}
}

// tenantDomain is the JetStream domain in the v2 ack subjects a reseller
// sees: none on the embedded store; the hub's through a leaf.
func tenantDomain(cfg relay.Config) string {
	if cfg.LocalJetStream() {
		return ""
	}
	return cfg.NATSDomain
}

// natsLogger routes nats-server's own log lines into zerolog.
type natsLogger struct{ log zerolog.Logger }

// Noticef lines (the start banner, limits) go to debug: the relay logs its
// own start line with what matters.
func (l natsLogger) Noticef(format string, v ...any) { l.log.Debug().Msgf(format, v...) }

func (l natsLogger) Warnf(format string, v ...any) { l.log.Warn().Msgf(format, v...) }

func (l natsLogger) Fatalf(format string, v ...any) { l.log.Error().Msgf(format, v...) }

func (l natsLogger) Errorf(format string, v ...any) { l.log.Error().Msgf(format, v...) }

func (l natsLogger) Debugf(format string, v ...any) { l.log.Debug().Msgf(format, v...) }

func (l natsLogger) Tracef(format string, v ...any) { l.log.Trace().Msgf(format, v...) }

// leafRemote is the leaf node connection to the hub: every URL given (the
// server picks one and moves to another when it fails), with the relay's
// NATS credentials if any.
func leafRemote(urls, creds string) (*server.RemoteLeafOpts, error) {
	remote := &server.RemoteLeafOpts{Credentials: creds}
	for _, raw := range strings.Split(urls, ",") {
		u, err := url.Parse(strings.TrimSpace(raw))
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("nats leaf: %q is not a URL such as nats-leaf://hub.example:7422", raw)
		}
		remote.URLs = append(remote.URLs, u)
	}
	return remote, nil
}
