package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
)

type publishResponse struct {
	Results []relay.Result `json:"results"`
}

// postEvents stores one event or a batch and answers 202 only after
// JetStream stored every one of them.
func (s *Server) postEvents(w http.ResponseWriter, r *http.Request) {
	c, err := s.authenticate(r)
	if err == nil && c.admin {
		err = fmt.Errorf("%w: publish with a seller or reseller token; an admin injects events through POST /v1/overrides", events.ErrForbidden)
	}
	var evs []events.Event
	if err == nil {
		evs, err = s.decodeEvents(w, r, c)
	}
	var res []relay.Result
	if err == nil {
		res, err = s.ingest.Publish(r.Context(), c.Principal, evs)
	}
	if err != nil {
		s.metrics.IngestRejected.WithLabelValues(codeOf(err)).Inc()
		writeError(w, r, s.log, err)
		return
	}
	if len(res) == 1 {
		setLogEvent(r, res[0].ID)
	}
	writeJSON(w, http.StatusAccepted, publishResponse{Results: res})
}

// decodeEvents reads and checks the body. Who may send the events is judged
// before what is wrong with them (403 before 422).
func (s *Server) decodeEvents(w http.ResponseWriter, r *http.Request, c caller) ([]events.Event, error) {
	body, err := readBody(w, r)
	if err != nil {
		return nil, err
	}
	evs, _, err := events.Decode(body, time.Now())
	if errors.Is(err, events.ErrMalformed) || errors.Is(err, events.ErrTooLarge) {
		return nil, err
	}
	if aerr := s.ingest.Authorize(c.Principal, evs); aerr != nil {
		return nil, aerr
	}
	return evs, err
}
