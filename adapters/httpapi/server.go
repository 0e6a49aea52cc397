package httpapi

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/billrelay/billrelay/relay"
	"github.com/billrelay/billrelay/relay/metrics"
	"github.com/billrelay/billrelay/relay/ops"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
)

// Config of the HTTP API.
type Config struct {
	// Addr to listen on, e.g. 127.0.0.1:8080 (":0" picks a free port).
	Addr string
	// AdminToken opens the admin endpoints.
	AdminToken string
	// Endpoints are the platform adapters' endpoints, served next to the
	// API.
	Endpoints []relay.Endpoint

	// The parts of the relay the API serves (see seams.go).
	Ingest    Ingest
	Inbox     Inbox
	Directory Directory
	Admin     Admin
	Health    Health
	Metrics   *metrics.Metrics
}

// Server serves the HTTP API of one relay.
type Server struct {
	cfg     Config
	ingest  Ingest
	inbox   Inbox
	dir     Directory
	admin   Admin
	health  Health
	metrics *metrics.Metrics
	log     zerolog.Logger
	srv     *http.Server
	ln      net.Listener
}

// New builds the server; it does not listen yet.
func New(cfg Config, log zerolog.Logger) (*Server, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, ingest: cfg.Ingest, inbox: cfg.Inbox, dir: cfg.Directory, admin: cfg.Admin, health: cfg.Health,
		metrics: cfg.Metrics, log: log.With().Str("component", "http").Logger()}
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// Long polls answer within 60s; leave room for slow clients.
		WriteTimeout: relay.MaxPullWait + 30*time.Second,
		IdleTimeout:  2 * time.Minute,
	}
	return s, nil
}

// check refuses a Config missing a part at start, instead of a nil
// dereference on the first request that needs it.
func (cfg Config) check() error {
	if cfg.AdminToken == "" {
		return errors.New("httpapi: admin token required")
	}
	parts := []struct {
		name   string
		absent bool
	}{
		{"Ingest", cfg.Ingest == nil}, {"Inbox", cfg.Inbox == nil}, {"Directory", cfg.Directory == nil},
		{"Admin", cfg.Admin == nil}, {"Health", cfg.Health == nil},
		{"Metrics", cfg.Metrics == nil || cfg.Metrics.Registry == nil || cfg.Metrics.IngestRejected == nil},
	}
	var missing []string
	for _, p := range parts {
		if p.absent {
			missing = append(missing, "Config."+p.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("httpapi: %s required", strings.Join(missing, ", "))
	}
	return nil
}

// registryAPI serves the registration routes (sellers, resellers, their
// webhooks, notifications and callback allowances); adminAPI the ops
// routes (pauses, dead letters, replay, reconciliation, overrides, owners,
// trails). Both share the server's authentication and error writing.
type (
	registryAPI struct{ *Server }
	adminAPI    struct{ *Server }
)

// Handler routes every endpoint.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	reg, adm := registryAPI{s}, adminAPI{s}
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("POST /v1/events", s.postEvents)
	mux.HandleFunc("POST /v1/sellers", reg.postSeller)
	mux.HandleFunc("POST /v1/resellers", reg.postReseller)
	mux.HandleFunc("GET /v1/resellers", reg.listResellers)
	mux.HandleFunc("GET /v1/resellers/{id}", reg.getReseller)
	mux.HandleFunc("GET /v1/resellers/{id}/events", s.longPoll(relay.RoleReseller))
	mux.HandleFunc("POST /v1/resellers/{id}/acks", s.acks(relay.RoleReseller))
	mux.HandleFunc("PUT /v1/resellers/{id}/webhook", reg.putWebhook(relay.RoleReseller))
	mux.HandleFunc("DELETE /v1/resellers/{id}/webhook", reg.deleteWebhook(relay.RoleReseller))
	mux.HandleFunc("PUT /v1/resellers/{id}/callback-allow", reg.putCallbackAllow)
	mux.HandleFunc("GET /v1/sellers/{id}", reg.getSeller)
	mux.HandleFunc("PUT /v1/sellers/{id}/webhook", reg.putWebhook(relay.RoleSeller))
	mux.HandleFunc("DELETE /v1/sellers/{id}/webhook", reg.deleteWebhook(relay.RoleSeller))
	mux.HandleFunc("GET /v1/sellers/{id}/events", s.longPoll(relay.RoleSeller))
	mux.HandleFunc("POST /v1/sellers/{id}/acks", s.acks(relay.RoleSeller))
	mux.HandleFunc("POST /v1/sellers/{id}/resume", adm.resumeSeller)
	mux.HandleFunc("PUT /v1/sellers/{id}/notifications", reg.putNotify)
	mux.HandleFunc("POST /v1/resellers/{id}/pause", adm.pause)
	mux.HandleFunc("POST /v1/resellers/{id}/resume", adm.resume)
	mux.HandleFunc("GET /v1/dlq", adm.listDLQ)
	mux.HandleFunc("POST /v1/dlq/redrive", adm.redrive)
	mux.HandleFunc("GET /v1/ops/events", adm.opsEvents)
	mux.HandleFunc("POST /v1/resellers/{id}/replay", adm.replay)
	mux.HandleFunc("POST /v1/resellers/{id}/reconcile", adm.reconcile)
	mux.HandleFunc("POST /v1/overrides", adm.postOverride)
	mux.HandleFunc("GET /v1/audit", adm.listAudit)
	mux.HandleFunc("GET /v1/items/{seller}/{account}/{item}", adm.getItem)
	mux.HandleFunc("PUT /v1/items/{seller}/{account}/{item}/owner", adm.putOwner)
	mux.HandleFunc("DELETE /v1/items/{seller}/{account}/{item}/owner", adm.deleteOwner)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.Registry, promhttp.HandlerOpts{}))
	for _, ep := range s.cfg.Endpoints {
		s.mount(mux, ep)
	}
	mux.HandleFunc("/", s.notFound)
	return s.accessLog(mux)
}

// Listen binds the address now, so that a bad address fails at start and
// the chosen port (for ":0") is known before serving.
func (s *Server) Listen() (net.Addr, error) {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", s.cfg.Addr, err)
	}
	s.ln = ln
	return ln.Addr(), nil
}

// Serve answers requests until Shutdown.
func (s *Server) Serve() error {
	if err := s.srv.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve http: %w", err)
	}
	return nil
}

// Shutdown stops accepting requests and waits for running ones until ctx
// ends.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 only when JetStream answers and every background part
// runs: a load balancer must not send events to a relay that cannot store
// or route them. The parts that are down are named, for the operator.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	err := s.health.Ready(ctx)
	var down *relay.DownError
	if errors.As(err, &down) {
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, errorBody{errorDetail{Code: "unavailable", Message: down.Error()}})
		return
	}
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusNotFound, errorBody{errorDetail{Code: "not_found",
		Message: fmt.Sprintf("no endpoint %s %s", r.Method, r.URL.Path)}})
}

// statusWriter remembers the status for the access log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection (flush, write
// deadlines) through the wrapper.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logInfo carries per-request fields for the access log: handlers fill in
// what they learn (the event id of a single-event publish).
type logInfo struct{ eventID string }

type logInfoKey struct{}

func setLogEvent(r *http.Request, id string) {
	if li, ok := r.Context().Value(logInfoKey{}).(*logInfo); ok {
		li.eventID = id
	}
}

// accessLog logs each request with event_id, reseller_id, status and
// duration, and names the actor for the audit trail (X-Actor, else the
// caller's role).
func (s *Server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		li := &logInfo{}
		ctx := context.WithValue(r.Context(), logInfoKey{}, li)
		ctx = ops.WithActor(ctx, s.actorOf(r))
		r = r.WithContext(ctx)
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		lvl := zerolog.DebugLevel
		if sw.status >= 400 && sw.status != statusClientClosed {
			lvl = zerolog.InfoLevel
		}
		ev := s.log.WithLevel(lvl).Str("http_method", r.Method).Str("http_path", r.URL.Path)
		if id := resellerOfPath(r.URL.Path); id != "" {
			ev = ev.Str("reseller_id", id)
		}
		if li.eventID != "" {
			ev = ev.Str("event_id", li.eventID)
		}
		ev.Int("status", sw.status).Dur("duration", time.Since(start)).Msg("request")
	})
}

// actorOf names who acts, for the audit trail, from the request's token
// (bearer, or ?token= as the adapters take it).
func (s *Server) actorOf(r *http.Request) string {
	tok := bearer(r)
	if tok == "" {
		tok = r.URL.Query().Get("token")
	}
	if tok != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(s.cfg.AdminToken)) == 1 {
		return actorName(&caller{admin: true}, r.Header.Get("X-Actor"))
	}
	if p, ok := s.dir.Authenticate(tok); ok {
		return actorName(&caller{Principal: p}, r.Header.Get("X-Actor"))
	}
	return actorName(nil, r.Header.Get("X-Actor"))
}

// actorName: only the admin token may name a person (X-Actor: an on-call
// name, a ticket), else it is "admin". A seller or reseller is recorded as
// itself (reseller:res-a) whatever it sends, so that no tenant can put its
// actions on someone else's name; nil is a caller without a known token.
func actorName(c *caller, xActor string) string {
	switch {
	case c == nil:
		return "anonymous"
	case !c.admin:
		return string(c.Role) + ":" + c.ID
	}
	if a := strings.TrimSpace(xActor); a != "" && len(a) <= 128 {
		return a
	}
	return "admin"
}

func resellerOfPath(p string) string {
	rest, ok := strings.CutPrefix(p, "/v1/resellers/")
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, "/")
	return id
}
