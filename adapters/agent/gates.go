package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/billrelay/billrelay/events"
	"github.com/billrelay/billrelay/relay/delivery"
)

// fileGates keeps the agent's delivery gates in one JSON file, rewritten
// atomically on each change (changes happen only when a delivery fails).
type fileGates struct {
	mu   sync.Mutex
	path string
}

type gateRecord struct {
	Key  events.Key    `json:"key"`
	Gate delivery.Gate `json:"gate"`
}

func (g *fileGates) read() (map[events.Key]delivery.Gate, error) {
	out := map[events.Key]delivery.Gate{}
	b, err := os.ReadFile(g.path)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	var recs []gateRecord
	if err := json.Unmarshal(b, &recs); err != nil {
		return nil, fmt.Errorf("%s: %w", g.path, err)
	}
	for _, r := range recs {
		out[r.Key] = r.Gate
	}
	return out, nil
}

func (g *fileGates) write(m map[events.Key]delivery.Gate) error {
	recs := make([]gateRecord, 0, len(m))
	for k, v := range m {
		recs = append(recs, gateRecord{k, v})
	}
	b, _ := json.Marshal(recs)
	tmp := g.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, g.path)
}

func (g *fileGates) Load(context.Context) (map[events.Key]delivery.Gate, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := os.MkdirAll(filepath.Dir(g.path), 0o700); err != nil {
		return nil, err
	}
	return g.read()
}

func (g *fileGates) Save(_ context.Context, k events.Key, v delivery.Gate) error {
	return g.change(func(m map[events.Key]delivery.Gate) { m[k] = v })
}

func (g *fileGates) Clear(_ context.Context, k events.Key) error {
	return g.change(func(m map[events.Key]delivery.Gate) { delete(m, k) })
}

func (g *fileGates) change(f func(map[events.Key]delivery.Gate)) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	m, err := g.read()
	if err != nil {
		return err
	}
	f(m)
	return g.write(m)
}
