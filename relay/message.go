package relay

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/nats-io/nats.go"
)

// KeyOfSubject reads the item key of an event, a delivery or an order
// subject.
func KeyOfSubject(subject string) (events.Key, error) {
	switch {
	case strings.HasPrefix(subject, events.OrdersPrefix+"."):
		_, k, err := events.ParseOrderSubject(subject)
		return k, err
	case strings.HasPrefix(subject, events.EventsPrefix+"."):
		return events.ParseEventSubject(subject)
	}
	_, k, err := events.ParseDeliverSubject(subject)
	return k, err
}

// StoredOf reads when the event was stored (Relay-Stored, Unix ns).
func StoredOf(h nats.Header) time.Time {
	ns, err := strconv.ParseInt(h.Get(HeaderStored), 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// FlagsOf reads the Relay-Flags header.
func FlagsOf(h nats.Header) []string {
	if v := h.Get(HeaderFlags); v != "" {
		return strings.Split(v, ",")
	}
	return nil
}

// EventIDOf reads the id of an event body, for messages stored before the
// relay put the id in a header.
func EventIDOf(body []byte) string {
	var e struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(body, &e)
	return e.ID
}
