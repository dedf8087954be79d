package main

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strings"
	"unicode"
)

// jsonSchema names the JSON output format of every command's -json flag,
// documented in docs/json.md. Bump it on any change a consumer could
// notice (a renamed or removed field, a changed encoding); adding a field
// is compatible.
const jsonSchema = "vdsogen/v1"

// writeJSON writes v in the one JSON format every command uses: an object
// whose first field is "schema", keys in snake_case (a struct field's json
// tag where it has one, its name in snake_case otherwise), byte slices as
// hex strings ("0f 1f 44 00 00"), nil lists as [] and nil maps as {}.
func writeJSON(w io.Writer, v any) {
	val := jsonValue(reflect.ValueOf(v))
	obj, ok := val.(jsonObject)
	if !ok {
		obj = jsonObject{{"value", val}}
	}
	obj = append(jsonObject{{"schema", jsonSchema}}, obj...)
	b, err := json.MarshalIndent(obj, "", "  ")
	if err != nil {
		panic(fmt.Sprintf("encoding JSON: %v", err)) // every value is built from encodable parts
	}
	w.Write(append(b, '\n'))
}

// jsonObject is a JSON object that keeps its fields in order.
type jsonObject []jsonField

type jsonField struct {
	key   string
	value any
}

func (o jsonObject) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f.key)
		v, err := json.Marshal(f.value)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

var (
	jsonMarshaler = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
)

// jsonValue converts v to what encoding/json writes in the format above.
func jsonValue(v reflect.Value) any {
	if !v.IsValid() {
		return nil
	}
	t := v.Type()
	if t != reflect.TypeFor[jsonObject]() && (t.Implements(jsonMarshaler) || t.Implements(textMarshaler)) {
		if v.Kind() == reflect.Pointer && v.IsNil() {
			return nil
		}
		return v.Interface() // its own encoding (e.g. a kind's name)
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return jsonValue(v.Elem())
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			b := make([]byte, v.Len())
			reflect.Copy(reflect.ValueOf(b), v)
			return fmt.Sprintf("% x", b)
		}
		out := make([]any, 0, v.Len())
		for i := range v.Len() {
			out = append(out, jsonValue(v.Index(i)))
		}
		return out
	case reflect.Map:
		out := map[string]any{} // encoding/json sorts the keys
		iter := v.MapRange()
		for iter.Next() {
			out[fmt.Sprint(iter.Key().Interface())] = jsonValue(iter.Value())
		}
		return out
	case reflect.Struct:
		var obj jsonObject
		structFields(v, &obj)
		if obj == nil {
			obj = jsonObject{}
		}
		return obj
	}
	return v.Interface()
}

// structFields appends v's exported fields to obj, embedded structs'
// fields inline as encoding/json does.
func structFields(v reflect.Value, obj *jsonObject) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() && !f.Anonymous {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		fv := v.Field(i)
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				if fv.IsNil() {
					continue
				}
				fv, ft = fv.Elem(), ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				structFields(fv, obj)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if strings.Contains(","+opts+",", ",omitempty,") && fv.IsZero() {
			continue
		}
		if fv.Kind() == reflect.Slice && fv.Len() == 0 && strings.Contains(","+opts+",", ",omitempty,") {
			continue
		}
		if name == "" {
			name = snakeCase(f.Name)
		}
		*obj = append(*obj, jsonField{name, jsonValue(fv)})
	}
}

// snakeCase spells a Go field name in snake_case: TSCBase is tsc_base,
// PCRelOff pc_rel_off, InstA inst_a.
func snakeCase(s string) string {
	r := []rune(s)
	var b strings.Builder
	for i, c := range r {
		if unicode.IsUpper(c) && i > 0 {
			prevLower := unicode.IsLower(r[i-1]) || unicode.IsDigit(r[i-1])
			nextLower := i+1 < len(r) && unicode.IsLower(r[i+1])
			if prevLower || (unicode.IsUpper(r[i-1]) && nextLower) {
				b.WriteByte('_')
			}
		}
		b.WriteRune(unicode.ToLower(c))
	}
	return b.String()
}
