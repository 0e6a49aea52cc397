package node

import (
	"context"
	"fmt"
	"time"

	"github.com/billrelay/billrelay/relay/store"
	"github.com/billrelay/billrelay/relay/tenancy"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/time/rate"
)

// connect starts the embedded server (with the resellers' accounts) or
// dials the external NATS, and makes the JetStream context and the store.
func (n *Node) connect() error {
	opts := []nats.Option{
		nats.Name("billrelay"),
		nats.MaxReconnects(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			n.log.Warn().Err(err).Msg("nats disconnected")
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			n.log.Info().Str("nats_url", nc.ConnectedUrlRedacted()).Msg("nats reconnected")
		}),
		nats.ClosedHandler(func(*nats.Conn) { close(n.closed) }),
		nats.ErrorHandler(natsError(n)),
	}
	url := n.cfg.NATSURL
	if url == "" {
		emb, err := tenancy.Start(n.cfg, store.SyncIntervalOf(n.cfg), n.view, n.root)
		if err != nil {
			return err
		}
		n.view.OnReseller = emb.Accounts().Changed
		n.accounts = emb.Accounts()
		n.ns = emb.Server()
		opts = append(opts, emb.ConnectOptions()...)
	} else {
		// The servers may still be starting: keep trying; waitJetStream
		// reports how long it has waited.
		opts = append(opts, nats.RetryOnFailedConnect(true))
		if n.cfg.NATSCredsFile != "" {
			opts = append(opts, nats.UserCredentials(n.cfg.NATSCredsFile))
		}
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		n.shutdownServer()
		return fmt.Errorf("connect to nats: %w", err)
	}
	js, err := jetstream.New(nc)
	if n.cfg.NATSDomain != "" {
		js, err = jetstream.NewWithDomain(nc, n.cfg.NATSDomain)
	}
	if err != nil {
		nc.Close()
		n.shutdownServer()
		return fmt.Errorf("jetstream context: %w", err)
	}
	n.nc, n.js = nc, js
	n.store = store.New(js, n.cfg, n.log, n.view.AllResellers)
	return nil
}

// natsError logs what the connection reports asynchronously, such as a
// reseller's intake queue dropping its flood (slow consumer), at most once
// a second: a flood must not become a flood of log lines.
func natsError(n *Node) nats.ErrHandler {
	every := rate.NewLimiter(1, 1)
	return func(_ *nats.Conn, sub *nats.Subscription, err error) {
		if !every.Allow() {
			return
		}
		ev := n.log.Warn().Err(err)
		if sub != nil {
			ev = ev.Str("subject", sub.Subject)
		}
		ev.Msg("nats connection reported an error")
	}
}

func (n *Node) shutdownServer() {
	if n.ns != nil {
		n.ns.Shutdown()
		n.ns.WaitForShutdown()
	}
}

// provision lays out the streams once JetStream can place them and returns
// the registry's bucket: at once on the embedded server; on a cluster that
// is still forming (no meta leader, too few peers for the replicas) or not
// yet reached through the leaf connection it retries for up to
// clusterWait, so that relays and servers may start in any order.
func provision(ctx context.Context, n *Node) (jetstream.KeyValue, error) {
	if n.cfg.LocalJetStream() {
		return n.store.Provision(ctx)
	}
	ctx, cancel := context.WithTimeout(ctx, clusterWait)
	defer cancel()
	backoff := 100 * time.Millisecond
	for {
		attempt, done := context.WithTimeout(ctx, 10*time.Second) // a cluster without a leader does not answer
		kv, err := n.store.Provision(attempt)
		done()
		if err == nil {
			return kv, nil
		}
		n.log.Warn().Err(err).Dur("retry_in", backoff).Msg("jetstream not ready for the relay's streams")
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("jetstream not ready after %s: %w", clusterWait, err)
		case <-time.After(backoff):
			backoff = min(2*backoff, 5*time.Second)
		}
	}
}

const clusterWait = 2 * time.Minute
