package node

import "github.com/billrelay/billrelay/relay"

var _ relay.Publisher = (*Relay)(nil)
