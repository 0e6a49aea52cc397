package events

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

var received = time.Date(2026, 11, 18, 8, 15, 4, 0, time.UTC)

const goodEvent = `{"specversion":"1.0","id":"bm-sell-1-1225058","source":"/billmgr/sell-1",
 "type":"service.state_changed","time":"2026-11-18T08:15:04Z","subject":"16643",
 "datacontenttype":"application/json",
 "seller":"sell-1","account":"acc-77","item":"16643",
 "data":{"state":"active","previous_state":"provisioning","order":"SO-991",
         "message":"service is created","params":{"SubscrID":"1000012"}}}`

func TestDecodeOK(t *testing.T) {
	evs, batch, err := Decode([]byte(goodEvent), received)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if batch || len(evs) != 1 {
		t.Fatalf("batch=%v len=%d, want single event", batch, len(evs))
	}
	e := evs[0]
	if e.ID != "bm-sell-1-1225058" || e.Key() != (Key{"sell-1", "acc-77", "16643"}) {
		t.Fatalf("got id=%q key=%+v", e.ID, e.Key())
	}
	d, err := ParseData(e.Data)
	if err != nil || d.State != ServiceActive || d.PreviousState != ServiceProvisioning {
		t.Fatalf("data = %+v, %v", d, err)
	}
}

func TestDecodeDefaults(t *testing.T) {
	body := `{"specversion":"1.0","id":"e1","source":"/x","type":"provisioning.completed","seller":"s","account":"a","item":"i","data":{}}`
	evs, _, err := Decode([]byte(body), received)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if !evs[0].Time.Equal(received) || evs[0].DataContentType != ContentTypeJSON {
		t.Fatalf("time=%v ct=%q, want receive time and %q", evs[0].Time, evs[0].DataContentType, ContentTypeJSON)
	}
}

func TestDecodeBatch(t *testing.T) {
	body := "[" + goodEvent + "," + strings.Replace(goodEvent, "bm-sell-1-1225058", "e2", 1) + "]"
	evs, batch, err := Decode([]byte(body), received)
	if err != nil || !batch || len(evs) != 2 || evs[1].ID != "e2" {
		t.Fatalf("Decode batch: evs=%d batch=%v err=%v", len(evs), batch, err)
	}
}

func TestDecodeProblems(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		wantErr    error
		wantFields []string
	}{
		{"malformed", `{"id":`, ErrMalformed, nil},
		{"not json object", `"hello"`, ErrMalformed, nil},
		{"empty", ``, ErrMalformed, nil},
		{"empty batch", `[]`, ErrInvalid, []string{"[]"}},
		{"missing fields", `{"specversion":"1.0"}`, ErrInvalid, []string{"id", "source", "type", "seller", "account", "item"}},
		{"empty id", mutate(`"id":"bm-sell-1-1225058"`, `"id":""`), ErrInvalid, []string{"id"}},
		{"id with dot", mutate(`"id":"bm-sell-1-1225058"`, `"id":"a.b"`), ErrInvalid, []string{"id"}},
		{"account with star", mutate(`"account":"acc-77"`, `"account":"acc*"`), ErrInvalid, []string{"account"}},
		{"item with gt", mutate(`"item":"16643"`, `"item":"x>"`), ErrInvalid, []string{"item"}},
		{"seller with space", mutate(`"seller":"sell-1"`, `"seller":"sell 1"`), ErrInvalid, []string{"seller"}},
		{"item too long", mutate(`"item":"16643"`, `"item":"`+strings.Repeat("x", 129)+`"`), ErrInvalid, []string{"item"}},
		{"unknown type", mutate(`"type":"service.state_changed"`, `"type":"invoice.payed"`), ErrInvalid, []string{"type"}},
		{"bad state", mutate(`"state":"active"`, `"state":"running"`), ErrInvalid, []string{"data.state"}},
		{"bad previous state", mutate(`"previous_state":"provisioning"`, `"previous_state":"x"`), ErrInvalid, []string{"data.previous_state"}},
		{"id is a number", mutate(`"id":"bm-sell-1-1225058"`, `"id":5`), ErrInvalid, []string{"id"}},
		{"bad time", mutate(`"time":"2026-11-18T08:15:04Z"`, `"time":"yesterday"`), ErrInvalid, []string{"time"}},
		{"data not object", mutate(`"data":{`, `"data":5,"x":{`), ErrInvalid, []string{"data"}},
		{"bad spec version", mutate(`"specversion":"1.0"`, `"specversion":"0.3"`), ErrInvalid, []string{"specversion"}},
		{"bad extension name", mutate(`"subject"`, `"Sub-Ject":1,"subject"`), ErrInvalid, []string{"Sub-Ject"}},
		{"failed without error", `{"specversion":"1.0","id":"e","source":"/s","type":"provisioning.failed","seller":"s","account":"a","item":"i"}`, ErrInvalid, []string{"data.error"}},
		{"retryable wrong type", `{"specversion":"1.0","id":"e","source":"/s","type":"provisioning.failed","seller":"s","account":"a","item":"i","data":{"error":{"message":"m","retryable":"no"}}}`, ErrInvalid, []string{"data.error.retryable"}},
		{"override without actor", `{"specversion":"1.0","id":"e","source":"/s","type":"ops.override","seller":"s","account":"a","item":"i","data":{"applies":"provisioning.completed"}}`, ErrInvalid, []string{"data.actor", "data.reason"}},
		{"batch one bad", "[" + goodEvent + `,{"specversion":"1.0"}]`, ErrInvalid, []string{"[1].id", "[1].type"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Decode([]byte(tc.body), received)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			got := fieldNames(err)
			for _, f := range tc.wantFields {
				if !slices.Contains(got, f) {
					t.Errorf("fields = %v, want %q among them", got, f)
				}
			}
		})
	}
}

func TestDecodeTooManyEvents(t *testing.T) {
	body := "[" + strings.Repeat(goodEvent+",", MaxBatch) + goodEvent + "]"
	if _, _, err := Decode([]byte(body), received); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	body := mutate(`"subject"`, `"traceparent":"00-abc-def-01","subject"`)
	evs, _, err := Decode([]byte(body), received)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	b, err := json.Marshal(evs[0])
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	if !strings.Contains(string(b), `"traceparent":"00-abc-def-01"`) {
		t.Fatalf("extension lost: %s", b)
	}
	again, _, err := Decode(b, received)
	if err != nil {
		t.Fatalf("Decode again: %v", err)
	}
	b2, _ := json.Marshal(again[0])
	if string(b) != string(b2) {
		t.Fatalf("not stable:\n%s\n%s", b, b2)
	}
}

func mutate(old, new string) string {
	if !strings.Contains(goodEvent, old) {
		panic("mutate: " + old + " not in goodEvent")
	}
	return strings.Replace(goodEvent, old, new, 1)
}

func fieldNames(err error) []string {
	var out []string
	for _, f := range Fields(err) {
		out = append(out, f.Field)
	}
	return out
}

// FuzzDecode checks that no input panics the decoder, and that whatever
// decodes re-encodes and decodes again to the same bytes.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(goodEvent))
	f.Add([]byte("[" + goodEvent + "]"))
	f.Add([]byte(`{"specversion":"1.0","id":"e","source":"/s","type":"ops.override","seller":"s","account":"a","item":"i","data":{"applies":"provisioning.failed","actor":"a","reason":"r","error":{"message":"m"}}}`))
	f.Add([]byte(`[{"id":5},"x",null]`))
	f.Add([]byte(`{"data":{"error":{"retryable":"x"}},"zz":[1]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		evs, _, err := Decode(body, received)
		if err != nil {
			if len(Fields(err)) == 0 && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error of no known kind: %v", err)
			}
			return
		}
		for _, e := range evs {
			b, err := json.Marshal(e)
			if err != nil {
				t.Fatalf("Marshal valid event: %v", err)
			}
			again, _, err := Decode(b, received)
			if err != nil {
				t.Fatalf("re-decode %s: %v", b, err)
			}
			b2, _ := json.Marshal(again[0])
			if string(b) != string(b2) {
				t.Fatalf("round trip differs:\n%s\n%s", b, b2)
			}
		}
	})
}
