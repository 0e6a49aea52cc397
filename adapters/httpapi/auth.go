package httpapi

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay"
)

// caller is who a request comes from.
type caller struct {
	admin bool
	relay.Principal
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// authenticate identifies the caller from its bearer token.
func (s *Server) authenticate(r *http.Request) (caller, error) {
	tok := bearer(r)
	if tok == "" {
		return caller{}, fmt.Errorf("%w: send Authorization: Bearer <token>", events.ErrUnauthorized)
	}
	if subtle.ConstantTimeCompare([]byte(tok), []byte(s.cfg.AdminToken)) == 1 {
		return caller{admin: true}, nil
	}
	if p, ok := s.dir.Authenticate(tok); ok {
		return caller{Principal: p}, nil
	}
	return caller{}, fmt.Errorf("%w: unknown token", events.ErrUnauthorized)
}

func (s *Server) requireAdmin(r *http.Request) error {
	c, err := s.authenticate(r)
	if err != nil {
		return err
	}
	if !c.admin {
		return fmt.Errorf("%w: this endpoint takes the admin token", events.ErrForbidden)
	}
	return nil
}

// requireSelf admits only the token of the reseller or seller named in the
// path: nobody reads or acks another's consumer, not even the admin.
func (s *Server) requireSelf(r *http.Request, role relay.Role, id string) error {
	c, err := s.authenticate(r)
	if err != nil {
		return err
	}
	if c.admin || c.Role != role || c.ID != id {
		return fmt.Errorf("%w: this endpoint takes %s %q's own token", events.ErrForbidden, role, id)
	}
	return nil
}
