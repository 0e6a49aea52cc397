// Command billrelay relays billing status changes from selling platforms to
// every reseller over NATS JetStream. "billrelay" alone (or "billrelay
// serve") runs the relay; the other subcommands are listed by "billrelay
// help".
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `billrelay relays billing status changes to every reseller.

Usage:
  billrelay [serve]     run the relay (embedded NATS JetStream unless RELAY_NATS_URL is set)
  billrelay agent       run beside a reselling billing node (AGENT_* variables)
  billrelay bench       measure the relay against bare JetStream on this machine
  billrelay healthcheck exit 0 when the local relay's /readyz answers 200 (for containers)
  billrelay help        show this help

Ops commands, against a running relay (RELAY_URL, RELAY_ADMIN_TOKEN):
  billrelay status [--json]
  billrelay sellers add --id ID
  billrelay resellers add --id ID --seller S --accounts A,B [--webhook URL] | list | show ID
  billrelay pause RESELLER [--reason TEXT]      billrelay resume RESELLER
  billrelay replay --reseller R [--since 24h|TIME] [--until TIME] [--from-seq N] [--items I,J] [--types T] [--dry-run]
  billrelay dlq list [--reseller R] [--all]     billrelay dlq redrive --reseller R [--ids 1,2]
  billrelay publish --seller S --account A --item I --event "Creation Completed" --params "..." --actor WHO --reason WHY
  billrelay reconcile --reseller R [--fix]
  billrelay item SELLER ACCOUNT ITEM            billrelay audit [--limit N]
  billrelay nats-config [--account BILLRELAY] [--domain D]   accounts for an external NATS cluster

Configuration comes from RELAY_* environment variables; see README.md.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the exit, so that tests can call it.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serveCommand(ctx, args, stderr)
	case "agent":
		return agentCommand(ctx, args, stderr)
	case "bench":
		return benchCommand(ctx, args, stdout, stderr)
	case "healthcheck":
		return healthcheckCommand(ctx, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	if _, ok := cliCommands[cmd]; ok {
		return runCLI(ctx, cmd, args, stdout, stderr)
	}
	fmt.Fprintf(stderr, "billrelay: unknown command %q\n\n%s", cmd, usage)
	return 2
}
