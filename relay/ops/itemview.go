package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/store"
	"github.com/nats-io/nats.go/jetstream"
)

// ItemView is what the relay knows of one item: what the seller last
// reported, who owns it, who it goes to, and what each of them applied.
type ItemView struct {
	Seller     string          `json:"seller"`
	Account    string          `json:"account"`
	Item       string          `json:"item"`
	Owner      string          `json:"owner,omitempty"`
	Recipients []string        `json:"recipients"`
	State      string          `json:"state,omitempty"`
	EventID    string          `json:"event_id,omitempty"`
	EventType  string          `json:"event_type,omitempty"`
	Seq        uint64          `json:"seq,omitempty"`
	Time       time.Time       `json:"time,omitzero"`
	Receipts   []relay.Receipt `json:"receipts"`
}

// Item shows one item, for on-call ("why is this service still in
// progress at reseller X?").
func (r *Ops) Item(ctx context.Context, k events.Key) (ItemView, error) {
	if p := events.TokenProblem(k.Item); p != "" {
		return ItemView{}, events.Invalid("item", "%s", p)
	}
	v := ItemView{Seller: k.Seller, Account: k.Account, Item: k.Item, Recipients: r.owners.Recipients(k), Receipts: []relay.Receipt{}}
	v.Owner, _ = r.owners.Owner(k)
	last, err := r.lastFor(ctx, relay.StreamEvents, events.EventSubject(k))
	if err != nil {
		return v, err
	}
	if last == nil && v.Owner == "" {
		return v, fmt.Errorf("%w: no event for item %q of %s/%s", events.ErrNotFound, k.Item, k.Seller, k.Account)
	}
	if last != nil {
		v.State, v.EventID, v.EventType = last.Header.Get(relay.HeaderState), last.Header.Get(relay.HeaderEventID), last.Header.Get(relay.HeaderType)
		v.Seq, v.Time = last.Sequence, last.Time
	}
	for _, id := range v.Recipients {
		rs, _ := r.dir.Reseller(id) // gone since: DELIVERY, as before shards
		rm, err := r.lastFor(ctx, relay.StreamReceipts, relay.ReceiptSubject(relay.Receipt{Stream: rs.DeliveryStream(), Consumer: id, Key: k}))
		if err != nil {
			return v, err
		}
		if rm != nil {
			var rc relay.Receipt
			if json.Unmarshal(rm.Data, &rc) == nil {
				v.Receipts = append(v.Receipts, rc)
			}
		}
	}
	return v, nil
}

// lastFor reads the last message of one subject, nil if there is none.
func (r *Ops) lastFor(ctx context.Context, stream, subject string) (*jetstream.RawStreamMsg, error) {
	st, err := r.js.Stream(ctx, stream)
	if err != nil {
		return nil, store.Classify(err)
	}
	m, err := st.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	return m, store.Classify(err)
}
