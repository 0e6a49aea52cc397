// Package storetest starts a bare embedded nats-server with JetStream for
// the tests of one part: a random port, its store in a directory of the
// test's, shut down when the test ends. A part's tests lay out only the
// streams they need on it, instead of opening a whole relay.
package storetest

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Server is a running test server and a connection to it.
type Server struct {
	NS *server.Server
	NC *nats.Conn
	JS jetstream.JetStream
}

// Start runs a server storing under dir (a fresh t.TempDir() when dir is
// "") and connects to it; both stop when the test ends, or earlier with
// Stop (a test that restarts the server on the same directory).
func Start(t testing.TB, dir string) *Server {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	// The store limits are pinned, not sized from the free disk: streams
	// laid out with a relay's default budget (16 GiB) fit on any machine.
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		StoreDir: dir, JetStreamMaxStore: 64 << 30, JetStreamMaxMemory: 256 << 20, NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		t.Fatal("nats-server not ready")
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		ns.Shutdown()
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		ns.Shutdown()
		t.Fatal(err)
	}
	s := &Server{NS: ns, NC: nc, JS: js}
	t.Cleanup(s.Stop)
	return s
}

// JetStream is Start for a test that needs only the JetStream context.
func JetStream(t testing.TB) jetstream.JetStream { return Start(t, "").JS }

// Stop closes the connection and shuts the server down; a second call
// does nothing.
func (s *Server) Stop() {
	s.NC.Close()
	s.NS.Shutdown()
	s.NS.WaitForShutdown()
}
