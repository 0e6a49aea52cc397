package events

import (
	"fmt"
	"strings"
)

// Subject prefixes. Subjects are built and parsed only here, so that no
// other package formats a subject by hand.
const (
	// EventsPrefix is where sellers' events are stored once:
	// events.<seller>.<account>.<item>.
	EventsPrefix = "events"
	// DeliverPrefix is where the router puts each reseller's copy:
	// deliver.<reseller>.<seller>.<account>.<item>.
	DeliverPrefix = "deliver"
	// OrdersPrefix is where resellers' orders to a seller are stored:
	// orders.<seller>.<reseller>.<account>.<item>.
	OrdersPrefix = "orders"
)

// Key identifies the item an event is about.
type Key struct {
	Seller  string
	Account string
	Item    string
}

// Key returns the routing key of e.
func (e *Event) Key() Key { return Key{Seller: e.Seller, Account: e.Account, Item: e.Item} }

// EventSubject is the EVENTS subject of k.
func EventSubject(k Key) string {
	return EventsPrefix + "." + k.Seller + "." + k.Account + "." + k.Item
}

// DeliverSubject is the DELIVERY subject of reseller's copy of k.
func DeliverSubject(reseller string, k Key) string {
	return DeliverPrefix + "." + reseller + "." + k.Seller + "." + k.Account + "." + k.Item
}

// DeliverFilter is the filter of reseller's consumer on DELIVERY.
func DeliverFilter(reseller string) string { return DeliverPrefix + "." + reseller + ".>" }

// OrderSubject is the ORDERS subject of an order event from reseller.
func OrderSubject(reseller string, k Key) string {
	return OrdersPrefix + "." + k.Seller + "." + reseller + "." + k.Account + "." + k.Item
}

// OrderFilter is the filter of seller's consumer of orders.
func OrderFilter(seller string) string { return OrdersPrefix + "." + seller + ".>" }

// AccountFilter matches every stored event of one seller's account.
func AccountFilter(seller, account string) string {
	return EventsPrefix + "." + seller + "." + account + ".*"
}

// ParseEventSubject reads an EVENTS subject back into its key.
func ParseEventSubject(s string) (Key, error) {
	t, err := split(s, EventsPrefix, 3)
	if err != nil {
		return Key{}, err
	}
	return Key{Seller: t[0], Account: t[1], Item: t[2]}, nil
}

// ParseDeliverSubject reads a DELIVERY subject back into reseller and key.
func ParseDeliverSubject(s string) (reseller string, k Key, err error) {
	t, err := split(s, DeliverPrefix, 4)
	if err != nil {
		return "", Key{}, err
	}
	return t[0], Key{Seller: t[1], Account: t[2], Item: t[3]}, nil
}

// ParseOrderSubject reads an ORDERS subject back into reseller and key.
func ParseOrderSubject(s string) (reseller string, k Key, err error) {
	t, err := split(s, OrdersPrefix, 4)
	if err != nil {
		return "", Key{}, err
	}
	return t[1], Key{Seller: t[0], Account: t[2], Item: t[3]}, nil
}

// split checks prefix and token count and that every token is one a valid
// event could have produced.
func split(s, prefix string, n int) ([]string, error) {
	parts := strings.Split(s, ".")
	if len(parts) != n+1 || parts[0] != prefix {
		return nil, fmt.Errorf("%w: subject %q: expected %s followed by %d tokens", ErrMalformed, clip(s), prefix, n)
	}
	for _, p := range parts[1:] {
		if problem := TokenProblem(p); problem != "" {
			return nil, fmt.Errorf("%w: subject %q: token %q: %s", ErrMalformed, clip(s), clip(p), problem)
		}
	}
	return parts[1:], nil
}
