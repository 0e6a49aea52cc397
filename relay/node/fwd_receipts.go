package node

import (
	"context"

	"github.com/billrelay/billrelay/relay/receipts"
)

func (r *Relay) loadReceipts(ctx context.Context) error {
	r.receipts = receipts.New(receipts.Config{Relay: r.cfg, Log: r.log, NC: r.nc, JS: r.js, Metrics: r.metrics,
		Registry: r.reg, GetMsg: r.getMsg, Stopping: r.bg.Done()})
	return r.receipts.Load(ctx)
}

func (r *Relay) startJournaler(ctx, bg context.Context) error {
	return r.sup.open(ctx, bg, part{name: "journal", run: r.receipts.RunJournaler, vital: true})
}

func (r *Relay) startReceiptWriter(ctx, bg context.Context) error {
	return r.sup.open(ctx, bg, part{name: "receipts", run: r.receipts.RunWriter, vital: true})
}

func (r *Relay) startReceiptIntake(ctx, bg context.Context) error {
	in := r.receipts.Intake()
	if r.tenants != nil {
		r.tenants.setShared(in.Resubscribe)
	}
	return r.sup.open(ctx, bg, part{name: "intake", open: in.Open, run: in.Run, vital: true})
}
