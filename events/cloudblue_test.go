package events

import (
	"strings"
	"testing"
)

func TestParseParams(t *testing.T) {
	p, err := ParseParams("GateID=4; IssuedSuccessfully=1;Message=Subscription #1000012 created;OrderItemID=77;SubscrID=1000012;")
	if err != nil || p["GateID"] != "4" || p["IssuedSuccessfully"] != "1" || p["Message"] != "Subscription #1000012 created" || CloudBlueItem(p) != "1000012" {
		t.Fatalf("%v, %v", p, err)
	}
	for _, bad := range []string{"GateID", "=4", "A=1;A=2"} {
		if _, err := ParseParams(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestMapCloudBlue(t *testing.T) {
	tests := []struct {
		name, params, typ, state string
	}{
		{CBCreationCompleted, "IssuedSuccessfully=1;OrderItemID=5", TypeProvisioningCompleted, ServiceActive},
		{CBCreationCompleted, "IssuedSuccessfully=0;Message=Subscription #7 already exists", TypeProvisioningFailed, ServiceFailed},
		{CBChangePlanCompleted, "IssuedSuccessfully=1", TypeProvisioningCompleted, ServiceActive},
		{CBStopService, "", TypeServiceStateChanged, ServiceSuspended},
		{CBStartService, "", TypeServiceStateChanged, ServiceActive},
		{CBCancellationPlaced, "", TypeServiceStateChanged, ServiceTerminating},
	}
	for _, tc := range tests {
		p, _ := ParseParams(tc.params)
		m, err := MapCloudBlue(tc.name, p)
		if err != nil || m.Type != tc.typ || m.State != tc.state {
			t.Errorf("%s %s → %+v, %v", tc.name, tc.params, m, err)
		}
		if m.Type == TypeProvisioningFailed && (m.Error == nil || !strings.Contains(m.Error.Message, "already exists") || m.Error.Retryable) {
			t.Errorf("failure %+v", m.Error)
		}
	}
	if _, err := MapCloudBlue("Creation Completed", map[string]string{}); err == nil {
		t.Errorf("completion without IssuedSuccessfully accepted")
	}
}

// FuzzParseParams: parsing never panics, and what parses formats back to
// something that parses to the same parameters.
func FuzzParseParams(f *testing.F) {
	f.Add("GateID=4;IssuedSuccessfully=1;Message=Done;OrderItemID=5;SubscrID=7")
	f.Add(";;=;a==b")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseParams(s)
		if err != nil {
			return
		}
		again, err := ParseParams(FormatParams(p))
		if err != nil {
			return // a value holding ';' or '=' cannot round-trip; CloudBlue has no escaping either
		}
		for k, v := range p {
			if strings.ContainsAny(v, ";=") || strings.ContainsAny(k, ";=") {
				return
			}
			if again[k] != v {
				t.Fatalf("%q: %q=%q came back as %q", s, k, v, again[k])
			}
		}
	})
}
