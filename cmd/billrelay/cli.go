package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"
)

// cliCommands are the ops commands that talk to a running relay.
var cliCommands = map[string]func(ctx context.Context, c *client, args []string, out io.Writer) error{
	"status":      statusCmd,
	"sellers":     sellersCmd,
	"resellers":   resellersCmd,
	"pause":       pauseCmd,
	"resume":      resumeCmd,
	"replay":      replayCmd,
	"dlq":         dlqCmd,
	"publish":     publishCmd,
	"reconcile":   reconcileCmd,
	"item":        itemCmd,
	"audit":       auditCmd,
	"nats-config": natsConfigCmd,
}

// runCLI runs one ops command; errors are one line and exit code 1 (2 for
// a wrong command line).
func runCLI(ctx context.Context, name string, args []string, stdout, stderr io.Writer) int {
	c, err := newClient()
	if err == nil {
		err = cliCommands[name](ctx, c, args, stdout)
	}
	var ue usageError
	switch {
	case err == nil:
		return 0
	case asUsage(err, &ue):
		fmt.Fprintf(stderr, "billrelay %s: %v\n", name, err)
		return 2
	default:
		fmt.Fprintf(stderr, "billrelay %s: %s\n", name, strings.ReplaceAll(err.Error(), "\n", " "))
		return 1
	}
}

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

func asUsage(err error, ue *usageError) bool {
	u, ok := err.(usageError)
	if ok {
		*ue = u
	}
	return ok
}

func flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return usagef("%v", err)
	}
	return nil
}

func printJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// statusRow is one reseller as GET /v1/resellers shows it.
type statusRow struct {
	ID            string  `json:"id"`
	Pending       int     `json:"pending"`
	AckPending    int     `json:"ack_pending"`
	Redelivered   int     `json:"redelivered"`
	DLQ           int     `json:"dlq"`
	Paused        bool    `json:"paused"`
	OldestUnacked float64 `json:"oldest_unacked_seconds"`
	Webhook       *struct {
		URL     string `json:"url"`
		Circuit *struct {
			Circuit string `json:"circuit"`
		} `json:"circuit"`
	} `json:"webhook"`
}

func statusCmd(ctx context.Context, c *client, args []string, out io.Writer) error {
	fs := flags("status")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	var res struct {
		Resellers []json.RawMessage `json:"resellers"`
	}
	if err := c.do(ctx, "GET", "/v1/resellers", nil, &res); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(out, res.Resellers)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RESELLER\tPENDING\tACK PENDING\tREDELIVERED\tOLDEST UNACKED\tDLQ\tPAUSED\tDELIVERY")
	for _, raw := range res.Resellers {
		var r statusRow
		_ = json.Unmarshal(raw, &r)
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%d\t%v\t%s\n", r.ID, r.Pending, r.AckPending, r.Redelivered,
			age(r.OldestUnacked), r.DLQ, r.Paused, deliveryMode(r))
	}
	return tw.Flush()
}

func age(sec float64) string {
	if sec == 0 {
		return "-"
	}
	return (time.Duration(sec) * time.Second).String()
}

func deliveryMode(r statusRow) string {
	if r.Webhook == nil {
		return "pull"
	}
	state := "closed"
	if r.Webhook.Circuit != nil {
		state = r.Webhook.Circuit.Circuit
	}
	return "webhook, circuit " + state
}

func sellersCmd(ctx context.Context, c *client, args []string, out io.Writer) error {
	if len(args) == 0 || args[0] != "add" {
		return usagef("usage: billrelay sellers add --id ID")
	}
	fs := flags("sellers add")
	id := fs.String("id", "", "seller id")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	var res map[string]string
	if err := c.do(ctx, "POST", "/v1/sellers", map[string]string{"id": *id}, &res); err != nil {
		return err
	}
	return printJSON(out, res)
}

func resellersCmd(ctx context.Context, c *client, args []string, out io.Writer) error {
	if len(args) == 0 {
		return usagef("usage: billrelay resellers add|list|show")
	}
	switch args[0] {
	case "add":
		return resellersAdd(ctx, c, args[1:], out)
	case "list":
		return statusCmd(ctx, c, args[1:], out)
	case "show":
		if len(args) != 2 {
			return usagef("usage: billrelay resellers show ID")
		}
		var v json.RawMessage
		if err := c.do(ctx, "GET", "/v1/resellers/"+url.PathEscape(args[1]), nil, &v); err != nil {
			return err
		}
		return printJSON(out, v)
	}
	return usagef("unknown resellers command %q; expected add, list or show", args[0])
}

func resellersAdd(ctx context.Context, c *client, args []string, out io.Writer) error {
	fs := flags("resellers add")
	id := fs.String("id", "", "reseller id")
	seller := fs.String("seller", "", "seller id")
	accounts := fs.String("accounts", "", "comma-separated account ids")
	hook := fs.String("webhook", "", "webhook URL (optional)")
	if err := parse(fs, args); err != nil {
		return err
	}
	body := map[string]any{"id": *id, "seller": *seller, "accounts": split(*accounts)}
	if *hook != "" {
		body["webhook"] = map[string]string{"url": *hook}
	}
	var res map[string]string
	if err := c.do(ctx, "POST", "/v1/resellers", body, &res); err != nil {
		return err
	}
	return printJSON(out, res)
}

func split(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func pauseCmd(ctx context.Context, c *client, args []string, out io.Writer) error {
	fs := flags("pause")
	reason := fs.String("reason", "", "why (kept in the audit trail)")
	if len(args) == 0 {
		return usagef("usage: billrelay pause RESELLER [--reason TEXT]")
	}
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	return stateChange(ctx, c, "/v1/resellers/"+url.PathEscape(args[0])+"/pause", map[string]string{"reason": *reason}, out)
}

func resumeCmd(ctx context.Context, c *client, args []string, out io.Writer) error {
	if len(args) != 1 {
		return usagef("usage: billrelay resume RESELLER")
	}
	return stateChange(ctx, c, "/v1/resellers/"+url.PathEscape(args[0])+"/resume", nil, out)
}

func stateChange(ctx context.Context, c *client, path string, body any, out io.Writer) error {
	var v statusRow
	if err := c.do(ctx, "POST", path, body, &v); err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: paused=%v pending=%d ack_pending=%d\n", v.ID, v.Paused, v.Pending, v.AckPending)
	return nil
}

// bar draws a progress bar on a terminal and nothing in a script.
func bar(total int, what string) func(int) {
	if !isatty.IsTerminal(os.Stderr.Fd()) {
		return func(int) {}
	}
	b := progressbar.NewOptions(total, progressbar.OptionSetWriter(os.Stderr), progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(), progressbar.OptionClearOnFinish(), progressbar.OptionThrottle(100*time.Millisecond))
	return func(n int) { _ = b.Set(n) }
}

func itemCmd(ctx context.Context, c *client, args []string, out io.Writer) error {
	if len(args) != 3 {
		return usagef("usage: billrelay item SELLER ACCOUNT ITEM")
	}
	var v json.RawMessage
	path := "/v1/items/" + url.PathEscape(args[0]) + "/" + url.PathEscape(args[1]) + "/" + url.PathEscape(args[2])
	if err := c.do(ctx, "GET", path, nil, &v); err != nil {
		return err
	}
	return printJSON(out, v)
}

func auditCmd(ctx context.Context, c *client, args []string, out io.Writer) error {
	fs := flags("audit")
	limit := fs.Int("limit", 50, "entries")
	if err := parse(fs, args); err != nil {
		return err
	}
	var res struct {
		Entries []json.RawMessage `json:"entries"`
	}
	if err := c.do(ctx, "GET", "/v1/audit?limit="+strconv.Itoa(*limit), nil, &res); err != nil {
		return err
	}
	return printJSON(out, res.Entries)
}
