package main

import (
	"context"
	"fmt"
	"io"

	"github.com/billrelay/billrelay/relay/tenancy"
)

// natsConfigCmd prints the accounts block that isolates resellers on an
// external NATS cluster, from the registrations of the running relay.
func natsConfigCmd(ctx context.Context, c *client, args []string, out io.Writer) error {
	fs := flags("nats-config")
	account := fs.String("account", "BILLRELAY", "the NATS account of the relay's streams and its user")
	domain := fs.String("domain", "", "JetStream domain of the cluster, if it has one")
	if err := parse(fs, args); err != nil {
		return err
	}
	var res struct {
		Resellers []struct {
			ID     string `json:"id"`
			Stream string `json:"stream"`
			Bcrypt string `json:"nats_bcrypt"`
		} `json:"resellers"`
	}
	if err := c.do(ctx, "GET", "/v1/resellers", nil, &res); err != nil {
		return err
	}
	tenants := make([]tenancy.Tenant, len(res.Resellers))
	for i, r := range res.Resellers {
		tenants[i] = tenancy.Tenant{ID: r.ID, Stream: r.Stream, Bcrypt: r.Bcrypt}
	}
	_, err := fmt.Fprint(out, tenancy.AccountsConfig(*account, *domain, tenants))
	return err
}
