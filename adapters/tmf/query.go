package tmf

import (
	"fmt"
	"net/url"
	"strings"
)

// Query is a hub's filter: "eventType=ProductOrderStateChangeEvent",
// "event.productOrder.state=completed,failed", or a bare field name of the
// resource ("state=completed"). Every condition must hold; a
// comma-separated value is any of them.
type Query map[string][]string

// ParseQuery reads a hub query; empty matches everything.
func ParseQuery(q string) (Query, error) {
	out := Query{}
	if strings.TrimSpace(q) == "" {
		return out, nil
	}
	vals, err := url.ParseQuery(q)
	if err != nil {
		return nil, fmt.Errorf("unreadable query %q: %v", q, err)
	}
	for k, vs := range vals {
		if k == "" {
			return nil, fmt.Errorf("query %q has a condition without a field", q)
		}
		for _, v := range vs {
			out[k] = append(out[k], strings.Split(v, ",")...)
		}
	}
	return out, nil
}

// Match reports whether a notification meets every condition.
func (q Query) Match(n map[string]any) bool {
	for k, want := range q {
		got, ok := lookup(n, k)
		if !ok {
			return false
		}
		if !contains(want, fmt.Sprint(got)) {
			return false
		}
	}
	return true
}

// lookup reads a dotted path; a bare name is looked up in the resource.
func lookup(n map[string]any, path string) (any, bool) {
	if v, ok := walk(n, strings.Split(path, ".")); ok {
		return v, true
	}
	ev, _ := n["event"].(map[string]any)
	for _, res := range ev {
		if m, ok := res.(map[string]any); ok {
			if v, ok := walk(m, strings.Split(path, ".")); ok {
				return v, true
			}
		}
	}
	return nil, false
}

func walk(v any, parts []string) (any, bool) {
	for _, p := range parts {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[p]; !ok {
			return nil, false
		}
	}
	return v, true
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
