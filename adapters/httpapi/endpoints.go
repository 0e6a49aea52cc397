package httpapi

import (
	"errors"
	"fmt"
	"io"
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
		limited := &limitedBody{ReadCloser: http.MaxBytesReader(w, r.Body, MaxBody)}
		r.Body = limited
		status, body, err := ep.Handle(r.Context(), p, r)
		if err != nil && limited.over {
			err = errTooLarge() // whatever the adapter's decoder made of it
		}
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
	p, ok := s.dir.Authenticate(tok)
	if !ok {
		return relay.Principal{}, fmt.Errorf("%w: unknown token", events.ErrUnauthorized)
	}
	if p.Role != role {
		return relay.Principal{}, fmt.Errorf("%w: this endpoint takes a %s token", events.ErrForbidden, role)
	}
	return p, nil
}

// limitedBody is a request body behind MaxBody that remembers hitting the
// limit: an adapter's decoder reports it as malformed JSON or a bad form,
// and the caller must learn that the body was too large instead.
type limitedBody struct {
	io.ReadCloser
	over bool
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		b.over = true
	}
	return n, err
}
