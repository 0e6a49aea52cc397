package main

import (
	"maps"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestReadmeConfigurationTable holds the README's configuration table to
// the binary: every RELAY_* variable it reads has a row, every row is read,
// and the default a row names is the one the binary applies. New settings
// need only their field and their row.
func TestReadmeConfigurationTable(t *testing.T) {
	checkVariableTable(t, "## Configuration", "RELAY", reflect.TypeFor[config](), func() (any, error) { return loadConfig() })
}

// TestReadmeAgentTable is the same for the agent's AGENT_* variables.
func TestReadmeAgentTable(t *testing.T) {
	checkVariableTable(t, "### The agent", "AGENT", reflect.TypeFor[agentConfig](), func() (any, error) { return loadAgentConfig() })
}

// TestReadmeNamesEveryVariable: a RELAY_* or AGENT_* variable read by
// name outside the configuration structs (the CLI's RELAY_URL, the
// healthcheck's RELAY_HEALTH_URL) is documented somewhere in the README.
func TestReadmeNamesEveryVariable(t *testing.T) {
	readme := readREADME(t)
	files, _ := os.ReadDir(".")
	name := regexp.MustCompile(`"((?:RELAY|AGENT)_[A-Z0-9_]+)"`)
	for _, f := range files {
		if !strings.HasSuffix(f.Name(), ".go") || strings.HasSuffix(f.Name(), "_test.go") {
			continue
		}
		src, err := os.ReadFile(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range name.FindAllStringSubmatch(string(src), -1) {
			if !strings.Contains(readme, "`"+m[1]) {
				t.Errorf("%s reads %s, which the README does not mention", f.Name(), m[1])
			}
		}
	}
}

// tableRow is one row of a variable table: the variable and its default
// (the first `quoted` value of the default cell; empty when the cell says
// it in words: "empty", "generated", "required").
type tableRow struct {
	variable, def string
	literal       bool
}

var (
	quoted   = regexp.MustCompile("`([^`]*)`")
	variable = regexp.MustCompile("^(RELAY|AGENT)_[A-Z0-9_]+$")
)

// checkVariableTable compares the table under heading with the envconfig
// struct typ read with prefix by load.
func checkVariableTable(t *testing.T, heading, prefix string, typ reflect.Type, load func() (any, error)) {
	rows := variableTable(t, heading, prefix)
	fields := envFields(typ, prefix)
	for v := range fields {
		if _, ok := rows[v]; !ok {
			t.Errorf("the binary reads %s; the README's table under %q has no row for it", v, heading)
		}
	}
	for v := range rows {
		if _, ok := fields[v]; !ok {
			t.Errorf("the README's table under %q lists %s, which the binary does not read", heading, v)
		}
	}
	for _, v := range slices.Sorted(maps.Keys(fields)) {
		if _, ok := os.LookupEnv(v); ok {
			t.Setenv(v, "") // restored after the test
			os.Unsetenv(v)
		}
	}
	base, err := load()
	if err != nil {
		t.Fatalf("defaults do not load: %v", err)
	}
	for v, row := range rows {
		field, ok := fields[v]
		if !ok {
			continue
		}
		unset := reflect.ValueOf(base).FieldByName(field)
		if !row.literal {
			if !unset.IsZero() {
				t.Errorf("README: %s has no default; the binary's is %v", v, unset.Interface())
			}
			continue
		}
		t.Setenv(v, row.def)
		got, err := load()
		os.Unsetenv(v)
		if err != nil {
			t.Errorf("README: %s defaults to %q, which the binary refuses: %v", v, row.def, err)
			continue
		}
		if set := reflect.ValueOf(got).FieldByName(field); !reflect.DeepEqual(set.Interface(), unset.Interface()) {
			t.Errorf("README: %s defaults to %q (%v); the binary's default is %v", v, row.def, set.Interface(), unset.Interface())
		}
	}
}

// variableTable parses the first table under heading: one variable per
// row.
func variableTable(t *testing.T, heading, prefix string) map[string]tableRow {
	t.Helper()
	readme := readREADME(t)
	start := strings.Index(readme, "\n"+heading+"\n")
	if start < 0 {
		t.Fatalf("README has no %q section", heading)
	}
	rows := map[string]tableRow{}
	inTable := false
	for _, line := range strings.Split(readme[start+len(heading)+2:], "\n") {
		if !strings.HasPrefix(line, "|") {
			if inTable {
				break
			}
			continue
		}
		inTable = true
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) < 3 {
			t.Fatalf("README %s: row %q: want | variable | default | meaning |", heading, line)
		}
		var names []string
		for _, m := range quoted.FindAllStringSubmatch(cells[0], -1) {
			if variable.MatchString(m[1]) && strings.HasPrefix(m[1], prefix+"_") {
				names = append(names, m[1])
			}
		}
		if len(names) == 0 {
			continue // the header and the separator
		}
		if len(names) > 1 {
			t.Errorf("README %s: row %q names %v; one variable per row, so that its default is plain", heading, line, names)
			continue
		}
		row := tableRow{variable: names[0]}
		if m := quoted.FindStringSubmatch(cells[1]); m != nil {
			row.def, row.literal = m[1], true
		}
		rows[row.variable] = row
	}
	if len(rows) == 0 {
		t.Fatalf("README %s: no variable table", heading)
	}
	return rows
}

// envFields maps each variable an envconfig struct reads to its field:
// its envconfig tag, or its upper-cased name, after the prefix.
func envFields(typ reflect.Type, prefix string) map[string]string {
	out := map[string]string{}
	for f := range typ.Fields() {
		if !f.IsExported() || f.Tag.Get("ignored") == "true" {
			continue
		}
		key := f.Tag.Get("envconfig")
		if key == "" {
			key = strings.ToUpper(f.Name)
		}
		out[prefix+"_"+key] = f.Name
	}
	return out
}

func readREADME(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatalf("read README: %v", err)
	}
	return string(b)
}
