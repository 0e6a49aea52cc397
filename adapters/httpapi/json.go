package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/billrelay/billrelay/events"
)

// MaxBody bounds every request body.
const MaxBody = 1 << 20

// readBody reads at most MaxBody bytes.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, errTooLarge()
	case err != nil:
		return nil, fmt.Errorf("%w: read body: %v", events.ErrMalformed, err)
	}
	return b, nil
}

// errTooLarge names the limit a body went over (413).
func errTooLarge() error {
	return fmt.Errorf("%w: body over %d bytes (1 MiB)", events.ErrTooLarge, MaxBody)
}

// decodeBody reads a JSON object into v, refusing unknown fields so that a
// misspelt field is named instead of silently ignored.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	b, err := readBody(w, r)
	if err != nil {
		return err
	}
	return decodeJSON(b, v)
}

func decodeJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		return fmt.Errorf("%w: more than one JSON value in the body", events.ErrMalformed)
	}
	return jsonError(err)
}

// jsonError turns encoding/json's complaints into field errors.
func jsonError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, io.EOF):
		return fmt.Errorf("%w: empty body; expected a JSON object", events.ErrMalformed)
	case errors.As(err, &se), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: invalid JSON: %v", events.ErrMalformed, err)
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			return fmt.Errorf("%w: expected a JSON object, got %s", events.ErrMalformed, te.Value)
		}
		return events.Invalid(field, "expected %s, got %s", typeWord(te.Type.Kind().String()), te.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return events.Invalid(field, "unknown field")
	default:
		return fmt.Errorf("%w: %v", events.ErrMalformed, err)
	}
}

func typeWord(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "slice", "array":
		return "an array"
	case "struct", "map", "ptr":
		return "an object"
	case "bool":
		return "a boolean"
	default:
		return "a number"
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
