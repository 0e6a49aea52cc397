package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/billrelay/billrelay/adapters/billmanager"
	"github.com/billrelay/billrelay/adapters/cloudblue"
	"github.com/billrelay/billrelay/adapters/emersion"
	"github.com/billrelay/billrelay/adapters/httpapi"
	"github.com/billrelay/billrelay/adapters/notify"
	"github.com/billrelay/billrelay/adapters/tmf"
	"github.com/billrelay/billrelay/adapters/webhook"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/delivery"
	"github.com/billrelay/billrelay/relay/node"
	"github.com/rs/zerolog"
)

func serveCommand(ctx context.Context, args []string, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintf(stderr, "billrelay serve: takes no arguments (configure with RELAY_* variables), got %q\n", args)
		return 2
	}
	cfg, err := loadConfig()
	if err != nil {
		fmt.Fprintf(stderr, "billrelay: %v\n", err)
		return 2
	}
	log := newLogger(cfg)
	if err := serve(ctx, cfg, log, stderr); err != nil {
		log.Error().Err(err).Msg("relay stopped with an error")
		return 1
	}
	log.Info().Msg("relay stopped")
	return 0
}

// serve runs the relay until ctx ends (SIGINT or SIGTERM), then stops the
// HTTP API first and JetStream last, so that nothing accepted is lost.
func serve(ctx context.Context, cfg config, log zerolog.Logger, stderr io.Writer) error {
	token, err := adminToken(cfg, log, stderr)
	if err != nil {
		return err
	}
	r, err := node.Open(ctx, cfg.relay(), log)
	if err != nil {
		return fmt.Errorf("open relay: %w", err)
	}
	defer r.Close()
	r.StartPush(cfg.push())
	if err := startNotify(ctx, cfg, r); err != nil {
		return err
	}
	api, err := httpapi.New(httpapi.Config{Addr: cfg.HTTPAddr, AdminToken: token, Endpoints: adapterEndpoints(cfg, r),
		Ingest: r.Ingest(), Inbox: r.Inbox(), Directory: r.Registry(), Admin: r.Admin(), Health: r, Metrics: r.Metrics()}, log)
	if err != nil {
		return err
	}
	addr, err := api.Listen()
	if err != nil {
		return err
	}
	log.Info().Str("http_addr", addr.String()).Str("data_dir", cfg.DataDir).
		Bool("embedded_nats", cfg.NATSURL == "").Bool("nats_leaf", cfg.NATSLeaf != "").Bool("sync_always", cfg.SyncInterval.always).Msg("relay serving")
	errc := make(chan error, 1)
	go func() { errc <- api.Serve() }()
	var failed error // a vital part could not be restarted: exit non-zero
	select {
	case err := <-errc:
		return err
	case err := <-r.Failed():
		failed = fmt.Errorf("relay cannot route: %w", err)
	case <-ctx.Done():
	}
	log.Info().Msg("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	return errors.Join(failed, api.Shutdown(sctx))
}

// adminToken returns RELAY_ADMIN_TOKEN, or the token kept in the data
// directory, creating and printing it on first start.
func adminToken(cfg config, log zerolog.Logger, stderr io.Writer) (string, error) {
	if cfg.AdminToken != "" {
		return cfg.AdminToken, nil
	}
	path := filepath.Join(cfg.DataDir, "admin.token")
	b, err := os.ReadFile(path)
	if err == nil {
		log.Info().Str("path", path).Msg("admin token read from the data directory")
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read admin token: %w", err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return "", fmt.Errorf("create data directory: %w", err)
	}
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	token := "bra_" + base64.RawURLEncoding.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write admin token: %w", err)
	}
	fmt.Fprintf(stderr, "\nbillrelay admin token (shown once; kept in %s):\n\n    %s\n\n", path, token)
	return token, nil
}

// adapterEndpoints are the platform adapters' HTTP endpoints.
func adapterEndpoints(cfg config, r *node.Node) []relay.Endpoint {
	statuses, _ := billmanager.ParseStatuses(cfg.BillmanagerStatus) // checked by loadConfig
	pub := r.Ingest()
	var eps []relay.Endpoint
	eps = append(eps, cloudblue.Endpoints(pub)...)
	eps = append(eps, billmanager.Endpoints(billmanager.Mapper{Statuses: statuses}, pub)...)
	eps = append(eps, emersion.Endpoints(pub)...)
	eps = append(eps, tmf.Endpoints(tmf.Mapper{AccountRole: cfg.TMFAccountRole}, pub, r.Registry())...)
	return eps
}

// startNotify taps EVENTS for provisioning failures and tells the people
// each seller configured.
func startNotify(ctx context.Context, cfg config, r *node.Node) error {
	client := webhook.NewClient(r.Registry().AdminCallbackPolicy())
	nt := &notify.Notifier{
		Seller: r.Registry().Seller, Done: r.Pusher().Done, MarkDone: r.Pusher().MarkDone,
		Webhook: func(url, secret string) (relay.Sink, error) {
			return webhook.New(webhook.Config{URL: url, Timeout: cfg.WebhookTimeout, Client: client, Secrets: func() []string { return []string{secret} }})
		},
	}
	if cfg.SMTPAddr != "" {
		nt.Mail = &notify.Mailer{Addr: cfg.SMTPAddr, From: cfg.SMTPFrom, Username: cfg.SMTPUsername, Password: cfg.SMTPPassword}
	}
	return r.Tap(ctx, "notify", nt, delivery.DispatchConfig{Concurrency: 4, Backoff: cfg.WebhookBackoff})
}
