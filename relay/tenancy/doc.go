// Package tenancy runs the relay's embedded nats-server and keeps the
// resellers apart on it: each reseller that logs in over NATS gets an
// account of its own that imports exactly what reading its consumer takes
// (see tenancy.go for why permissions inside one account are not enough),
// and a guard closes a tenant whose account grows past what an agent
// needs. For an external cluster it writes the same isolation as a
// nats-server accounts block (AccountsConfig, `billrelay nats-config`).
//
// It owns the server's options, the relay's internal user and password,
// the resellers' accounts, their imports and permissions, and the bans.
// What it needs of the registry is the [Registry] interface; the change
// of a reseller reaches it through [Accounts.Changed].
//
// It may import the standard library, nats-server, nats.go, zerolog and
// the contracts in package relay; never relay/node or another part.
package tenancy
