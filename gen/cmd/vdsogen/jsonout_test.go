package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// jsonSchemaCmd is the script command `jsonschema file`: file (usually
// stdout copied) holds one JSON document in the documented format
// (docs/json.md), checked by checkJSONSchema.
func jsonSchemaCmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: jsonschema file")
	}
	if err := checkJSONSchema([]byte(ts.ReadFile(args[0]))); err != nil {
		ts.Fatalf("%s: %v", args[0], err)
	}
}

var (
	snakeKey = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	hexBytes = regexp.MustCompile(`^([0-9a-f]{2}( [0-9a-f]{2})*)?$`)
)

// checkJSONSchema checks the rules every -json output keeps: one object
// whose first key is "schema" with the current version, every key in
// snake_case, no null anywhere (an empty list is [], an absent optional
// object is left out), and every field named bytes or bytes_* a hex string.
func checkJSONSchema(doc []byte) error {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return fmt.Errorf("not a JSON object: %v", err)
	}
	if k, err := dec.Token(); err != nil || k != "schema" {
		return fmt.Errorf("the first key is %v, want \"schema\"", k)
	}
	if v, err := dec.Token(); err != nil || v != jsonSchema {
		return fmt.Errorf("schema is %v, want %q", v, jsonSchema)
	}
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		return err
	}
	var errs []string
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case nil:
			errs = append(errs, path+": null")
		case map[string]any:
			for k, x := range v {
				if !snakeKey.MatchString(k) {
					errs = append(errs, fmt.Sprintf("%s: key %q is not snake_case", path, k))
				}
				if s, ok := x.(string); ok && (k == "bytes" || strings.HasPrefix(k, "bytes_")) && !hexBytes.MatchString(s) {
					errs = append(errs, fmt.Sprintf("%s.%s: %q is not hex bytes", path, k, s))
				}
				walk(path+"."+k, x)
			}
		case []any:
			for i, x := range v {
				walk(fmt.Sprintf("%s[%d]", path, i), x)
			}
		}
	}
	walk("$", v)
	if len(errs) > 0 {
		if len(errs) > 10 {
			errs = append(errs[:10], fmt.Sprintf("and %d more", len(errs)-10))
		}
		return fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return nil
}

// TestCheckJSONSchema: the checker itself rejects each kind of violation.
func TestCheckJSONSchema(t *testing.T) {
	good := `{"schema": "` + jsonSchema + `", "a_b": [], "bytes": "0f 1f", "x": {"bytes_a": ""}}`
	if err := checkJSONSchema([]byte(good)); err != nil {
		t.Errorf("good document rejected: %v", err)
	}
	for _, bad := range []string{
		`{"a": 1}`,
		`{"schema": "vdsogen/v0"}`,
		`{"a": 1, "schema": "` + jsonSchema + `"}`,
		`{"schema": "` + jsonSchema + `", "Program": "x"}`,
		`{"schema": "` + jsonSchema + `", "relocs": null}`,
		`{"schema": "` + jsonSchema + `", "x": [{"bytes": "DxFE"}]}`,
		`{"schema": "` + jsonSchema + `", "x": {"bytesA": "0f"}}`,
		`[1]`,
	} {
		if err := checkJSONSchema([]byte(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// TestWriteJSON: Go field names become snake_case, bytes hex, nil lists
// [] and nil maps {}, tags win, omitempty is honoured, "schema" comes first.
func TestWriteJSON(t *testing.T) {
	type inner struct {
		PCRelOff int
		Bytes    []byte
	}
	var b bytes.Buffer
	writeJSON(&b, struct {
		Program string
		TSCBase uint64
		Relocs  []inner
		Keys    map[string]bool
		Tagged  string `json:"renamed"`
		Skip    int    `json:"-"`
		Opt     *inner `json:"opt,omitempty"`
		In      inner
	}{Program: "p", TSCBase: 1, In: inner{PCRelOff: 2, Bytes: []byte{0x0f, 0x1f}}})
	want := `{
  "schema": "` + jsonSchema + `",
  "program": "p",
  "tsc_base": 1,
  "relocs": [],
  "keys": {},
  "renamed": "",
  "in": {
    "pc_rel_off": 2,
    "bytes": "0f 1f"
  }
}
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	if err := checkJSONSchema(b.Bytes()); err != nil {
		t.Error(err)
	}
}
