package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"text/tabwriter"
	"time"

	"github.com/mattn/go-isatty"
)

func replayCmd(ctx context.Context, c *client, args []string, out io.Writer) error {
	fs := flags("replay")
	reseller := fs.String("reseller", "", "reseller to replay to")
	since := fs.String("since", "", "RFC 3339 time or a duration back, e.g. 24h")
	until := fs.String("until", "", "RFC 3339 time")
	fromSeq := fs.Uint64("from-seq", 0, "EVENTS sequence to start at")
	items := fs.String("items", "", "comma-separated item ids")
	types := fs.String("types", "", "comma-separated event types")
	dry := fs.Bool("dry-run", false, "only count")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *reseller == "" {
		return usagef("--reseller is required")
	}
	req := map[string]any{"from_seq": *fromSeq, "items": split(*items), "types": split(*types), "dry_run": *dry}
	for name, v := range map[string]string{"since": *since, "until": *until} {
		t, err := parseWhen(v)
		if err != nil {
			return usagef("--%s: %v", name, err)
		}
		if !t.IsZero() {
			req[name] = t
		}
	}
	path := "/v1/resellers/" + url.PathEscape(*reseller) + "/replay"
	var res struct{ Matched, Replayed int }
	if err := c.stream(ctx, path, req, &res, progressFor(ctx, c, path, req, *dry)); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(out, map[string]int{"matched": res.Matched, "replayed": res.Replayed})
	}
	fmt.Fprintf(out, "matched %d, replayed %d to %s\n", res.Matched, res.Replayed, *reseller)
	return nil
}

// progressFor counts what a replay will send (a dry run) to size the bar,
// on a terminal only.
func progressFor(ctx context.Context, c *client, path string, req map[string]any, dry bool) func(int) {
	if dry || !isatty.IsTerminal(os.Stderr.Fd()) {
		return func(int) {}
	}
	count := map[string]any{"dry_run": true}
	for k, v := range req {
		if k != "dry_run" {
			count[k] = v
		}
	}
	var n struct{ Matched int }
	if err := c.do(ctx, "POST", path, count, &n); err != nil {
		return func(int) {}
	}
	return bar(n.Matched, "replaying")
}

// parseWhen reads an RFC 3339 time or a duration back from now.
func parseWhen(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(v); err == nil {
		return time.Now().Add(-d), nil
	}
	return time.Parse(time.RFC3339, v)
}

func dlqCmd(ctx context.Context, c *client, args []string, out io.Writer) error {
	if len(args) == 0 {
		return usagef("usage: billrelay dlq list|redrive")
	}
	fs := flags("dlq " + args[0])
	reseller := fs.String("reseller", "", "reseller")
	all := fs.Bool("all", false, "list redriven entries too")
	ids := fs.String("ids", "", "comma-separated dead letter ids (redrive; default all)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	switch args[0] {
	case "list":
		return dlqList(ctx, c, *reseller, *all, *asJSON, out)
	case "redrive":
		if *reseller == "" {
			return usagef("--reseller is required")
		}
		var res struct{ Redriven int }
		body := map[string]any{"reseller": *reseller, "ids": split(*ids)}
		if err := c.stream(ctx, "/v1/dlq/redrive", body, &res, bar(-1, "redriving")); err != nil {
			return err
		}
		fmt.Fprintf(out, "redriven %d to %s\n", res.Redriven, *reseller)
		return nil
	}
	return usagef("unknown dlq command %q; expected list or redrive", args[0])
}

func dlqList(ctx context.Context, c *client, reseller string, all, asJSON bool, out io.Writer) error {
	q := url.Values{"limit": {"1000"}}
	if reseller != "" {
		q.Set("reseller", reseller)
	}
	if all {
		q.Set("all", "true")
	}
	var res struct {
		Entries []struct {
			ID, Reseller, Seller, Reason string
			Attempts                     int
			Time                         time.Time
			Redriven                     bool
			Event                        struct{ ID, Item, Type string }
		}
	}
	if err := c.do(ctx, "GET", "/v1/dlq?"+q.Encode(), nil, &res); err != nil {
		return err
	}
	if asJSON {
		return printJSON(out, res.Entries)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTO\tEVENT\tTYPE\tITEM\tATTEMPTS\tWHEN\tREASON")
	for _, e := range res.Entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", e.ID, e.Reseller+e.Seller, e.Event.ID, e.Event.Type, e.Event.Item,
			e.Attempts, e.Time.Format(time.RFC3339), e.Reason)
	}
	return tw.Flush()
}

func publishCmd(ctx context.Context, c *client, args []string, out io.Writer) error {
	fs := flags("publish")
	o := map[string]any{}
	seller, account, item := fs.String("seller", "", ""), fs.String("account", "", ""), fs.String("item", "", "")
	event := fs.String("event", "", `CloudBlue event name, e.g. "Creation Completed"`)
	params := fs.String("params", "", "its parameter string, e.g. GateID=4;IssuedSuccessfully=1;…")
	file := fs.String("file", "", "a catalog event (JSON) instead of --event/--params")
	actor := fs.String("actor", os.Getenv("USER"), "who makes the change")
	reason := fs.String("reason", "", "why (a ticket number)")
	if err := parse(fs, args); err != nil {
		return err
	}
	o["seller"], o["account"], o["item"], o["actor"], o["reason"], o["params"] = *seller, *account, *item, *actor, *reason, *params
	o["event"] = *event
	if *file != "" {
		b, err := os.ReadFile(*file)
		if err != nil {
			return err
		}
		o["event"] = json.RawMessage(b)
	}
	var res struct{ ID, Status string }
	if err := c.do(ctx, "POST", "/v1/overrides", o, &res); err != nil {
		return err
	}
	fmt.Fprintf(out, "published %s (%s)\n", res.ID, res.Status)
	return nil
}

func reconcileCmd(ctx context.Context, c *client, args []string, out io.Writer) error {
	fs := flags("reconcile")
	reseller := fs.String("reseller", "", "reseller")
	fix := fs.Bool("fix", false, "send each drifted item a reconciliation.snapshot")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *reseller == "" {
		return usagef("--reseller is required")
	}
	var res struct {
		Checked, Fixed int
		Items          []map[string]any
	}
	path := "/v1/resellers/" + url.PathEscape(*reseller) + "/reconcile"
	if err := c.stream(ctx, path, map[string]bool{"fix": *fix}, &res, bar(-1, "reconciling")); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(out, res)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tITEM\tSELLER STATE\tAPPLIED\tRECEIPT\tFIXED")
	for _, d := range res.Items {
		fmt.Fprintf(tw, "%v\t%v\t%v\t%v\t%v\t%v\n", d["account"], d["item"], d["seller_state"], or(d["applied_state"], "-"), or(d["receipt"], "none"), d["fixed"] == true)
	}
	_ = tw.Flush()
	fmt.Fprintf(out, "%d items checked, %d drifted, %d fixed\n", res.Checked, len(res.Items), res.Fixed)
	return nil
}

func or(v any, def string) string {
	if s, ok := v.(string); ok && s != "" {
		return s
	}
	return def
}
