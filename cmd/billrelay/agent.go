package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/billrelay/billrelay/adapters/agent"
	"github.com/kelseyhightower/envconfig"
	"github.com/rs/zerolog"
)

// agentConfig is "billrelay agent"'s configuration, from AGENT_* variables.
// The README's agent table documents every field (a test holds it to this
// struct).
type agentConfig struct {
	Reseller     string          `envconfig:"RESELLER"`
	Token        string          `envconfig:"TOKEN"`
	RelayURL     string          `envconfig:"RELAY_URL" default:"http://127.0.0.1:8080"`
	NATSURL      string          `envconfig:"NATS_URL"`
	Stream       string          `envconfig:"STREAM" default:"DELIVERY"`
	SinkURL      string          `envconfig:"SINK_URL"`
	SinkCommand  string          `envconfig:"SINK_COMMAND"`
	TermExitCode int             `envconfig:"TERM_EXIT_CODE" default:"3"`
	SinkTimeout  time.Duration   `envconfig:"SINK_TIMEOUT" default:"30s"`
	Concurrency  int             `envconfig:"CONCURRENCY" default:"4"`
	Backoff      []time.Duration `envconfig:"BACKOFF" default:"1s,5s,30s,2m,10m,30m,1h"`
	AckWait      time.Duration   `envconfig:"ACK_WAIT" default:"30s"`
	StateDir     string          `envconfig:"STATE_DIR" default:"./agent-state"`
	LogLevel     string          `envconfig:"LOG_LEVEL" default:"info"`
}

// loadAgentConfig reads AGENT_*.
func loadAgentConfig() (agentConfig, error) {
	var c agentConfig
	err := envconfig.Process("agent", &c)
	return c, err
}

// agentCommand runs beside a reselling billing node until SIGINT/SIGTERM.
func agentCommand(ctx context.Context, args []string, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintf(stderr, "billrelay agent: takes no arguments (configure with AGENT_* variables), got %q\n", args)
		return 2
	}
	c, err := loadAgentConfig()
	if err != nil {
		fmt.Fprintf(stderr, "billrelay agent: configuration: %v\n", err)
		return 2
	}
	cfg := agent.Config{Reseller: c.Reseller, Token: c.Token, RelayURL: c.RelayURL, NATSURL: c.NATSURL, Stream: c.Stream,
		SinkURL: c.SinkURL, SinkCommand: c.SinkCommand, TermExitCode: c.TermExitCode, SinkTimeout: c.SinkTimeout,
		Concurrency: c.Concurrency, Backoff: c.Backoff, AckWait: c.AckWait, StateDir: c.StateDir}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "billrelay agent: %v\n", err)
		return 2
	}
	lvl, err := zerolog.ParseLevel(c.LogLevel)
	if err != nil {
		fmt.Fprintf(stderr, "billrelay agent: AGENT_LOG_LEVEL: %q is not a level\n", c.LogLevel)
		return 2
	}
	log := zerolog.New(os.Stderr).Level(lvl).With().Timestamp().Str("component", "agent").Logger()
	if err := agent.Run(ctx, cfg, log); err != nil && !errors.Is(err, context.Canceled) {
		log.Error().Err(err).Msg("agent stopped with an error")
		return 1
	}
	log.Info().Msg("agent stopped")
	return 0
}
