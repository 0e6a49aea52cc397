package relay

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/rs/zerolog"
)

// maxPayload leaves room for a commit group's envelope.
const maxPayload = 8 << 20

// startEmbedded runs nats-server in-process with JetStream on disk under
// cfg.DataDir. The store limits and the consumer limit are set explicitly,
// never left to the server's defaults, so that the relay behaves the same on
// every machine.
func startEmbedded(cfg Config, auth *natsAuth, log zerolog.Logger) (*server.Server, error) {
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
		SyncInterval:       syncIntervalOf(cfg),
		JetStreamLimits:    server.JSLimitOpts{DefaultMaxConsumers: cfg.MaxConsumers},
		FeatureFlags:       cfg.FeatureFlags,
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
	ns.SetLoggerV2(natsLogger{log.With().Str("component", "nats").Logger()}, false, false, false)
	ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("embedded nats server not ready after 30s")
	}
	if cfg.NATSListen != "" {
		log.Info().Str("nats_url", ns.ClientURL()).Msg("nats listening for resellers")
	}
	return ns, nil
}

// natsLogger routes nats-server's own log lines into zerolog.
type natsLogger struct{ log zerolog.Logger }

// Noticef lines (the start banner, limits) go to debug: the relay logs its
// own start line with what matters.
func (l natsLogger) Noticef(format string, v ...any) { l.log.Debug().Msgf(format, v...) }
func (l natsLogger) Warnf(format string, v ...any)   { l.log.Warn().Msgf(format, v...) }
func (l natsLogger) Fatalf(format string, v ...any)  { l.log.Error().Msgf(format, v...) }
func (l natsLogger) Errorf(format string, v ...any)  { l.log.Error().Msgf(format, v...) }
func (l natsLogger) Debugf(format string, v ...any)  { l.log.Debug().Msgf(format, v...) }
func (l natsLogger) Tracef(format string, v ...any)  { l.log.Trace().Msgf(format, v...) }
