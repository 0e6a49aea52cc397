package httpapi

import (
	"fmt"
	"net/http"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
)

// mount serves an adapter's endpoint behind the API's authentication,
// body limit and error format.
func (s *Server) mount(mux *http.ServeMux, ep relay.Endpoint) {
	mux.HandleFunc(ep.Pattern, func(w http.ResponseWriter, r *http.Request) {
		p, err := s.adapterCaller(r, ep.Role)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
		status, body, err := ep.Handle(r.Context(), p, r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		if body == nil {
			w.WriteHeader(status)
			return
		}
		writeJSON(w, status, body)
	})
}

// adapterCaller authenticates an adapter's caller by bearer token or, for
// platforms that can only be configured with a URL, a token= query
// parameter (the access log never records query strings).
func (s *Server) adapterCaller(r *http.Request, role relay.Role) (relay.Principal, error) {
	tok := bearer(r)
	if tok == "" {
		tok = r.URL.Query().Get("token")
	}
	if tok == "" {
		return relay.Principal{}, fmt.Errorf("%w: send Authorization: Bearer <token> (or ?token=)", events.ErrUnauthorized)
	}
	p, ok := s.relay.Authenticate(tok)
	if !ok {
		return relay.Principal{}, fmt.Errorf("%w: unknown token", events.ErrUnauthorized)
	}
	if p.Role != role {
		return relay.Principal{}, fmt.Errorf("%w: this endpoint takes a %s token", events.ErrForbidden, role)
	}
	return p, nil
}
