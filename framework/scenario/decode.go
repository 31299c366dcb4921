package scenario

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/util/validation/field"
	sjson "sigs.k8s.io/json"
)

// MaxFileBytes bounds a scenario file.
const MaxFileBytes = 1 << 20

// decode reads one YAML document into s, case-sensitively, and returns every
// problem of its shape at once, each with its field path and line: unknown
// fields (with the field meant when only the case differs), fields given
// twice, values of the wrong type. The values are then decoded by
// sigs.k8s.io/json, case-sensitively (`FileSize` never fills fileSize).
// fatal is set when nothing could be decoded (not YAML, empty, too large,
// two documents): validating the empty result would only add noise.
func decode(b []byte, s *Scenario) (errs field.ErrorList, fatal bool) { return decodeInto(b, s) }

// decodeInto is decode for any document type (a Scenario, a Qualification).
func decodeInto[T any](b []byte, s *T) (errs field.ErrorList, fatal bool) {
	if len(b) > MaxFileBytes {
		return field.ErrorList{field.TooLong(field.NewPath("<file>"), len(b), MaxFileBytes)}, true
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return field.ErrorList{field.Required(field.NewPath("<file>"), "the file is empty")}, true
		}
		return field.ErrorList{field.Invalid(field.NewPath("<file>"), nil, "not YAML: "+err.Error())}, true
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return field.ErrorList{field.Forbidden(field.NewPath("<file>"), fmt.Sprintf("a second YAML document starts at line %d: one document per file", extra.Line))}, true
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	sc := &shapeChecker{}
	sc.check(root, reflect.TypeFor[T](), nil)
	errs = sc.errs
	if len(errs) > 0 {
		// The shape is wrong somewhere: decode what can be decoded so that
		// validation still reports the rest, and ignore the decoder's
		// (first-only) type error, already reported above with its line.
		j, err := toJSON(root)
		if err != nil {
			// Not even that (a .inf has no JSON form): the shape errors alone.
			return errs, true
		}
		_ = sjson.UnmarshalCaseSensitivePreserveInts(j, s)
		return errs, false
	}
	j, err := toJSON(root)
	if err != nil {
		return field.ErrorList{field.Invalid(field.NewPath("<file>"), nil, "not YAML: "+err.Error())}, true
	}
	if err := sjson.UnmarshalCaseSensitivePreserveInts(j, s); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return field.ErrorList{field.Invalid(pathOf(te.Field), nil, fmt.Sprintf("a %s cannot be read as %s", te.Value, te.Type))}, false
		}
		return field.ErrorList{field.Invalid(field.NewPath("<file>"), nil, err.Error())}, true
	}
	return nil, false
}

// toJSON converts the YAML tree that checkShape read (YAML 1.2: "no" is a
// string) to JSON, so that both read the same values.
func toJSON(root *yaml.Node) ([]byte, error) {
	var v any
	if err := root.Decode(&v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// pathOf turns "spec.workload.iterations" into a field path.
func pathOf(dotted string) *field.Path {
	if dotted == "" {
		return field.NewPath("<file>")
	}
	parts := strings.Split(dotted, ".")
	return field.NewPath(parts[0], parts[1:]...)
}

var unmarshaler = reflect.TypeFor[json.Unmarshaler]()

// maxNodes bounds the walk: YAML aliases can make a small file a huge tree.
const maxNodes = 100000

// shapeChecker walks the YAML tree beside the Go type it decodes into.
type shapeChecker struct {
	errs   field.ErrorList
	visits int
}

func (sc *shapeChecker) check(n *yaml.Node, t reflect.Type, path *field.Path) {
	errs := &sc.errs
	if sc.visits++; sc.visits > maxNodes {
		if sc.visits == maxNodes+1 {
			*errs = append(*errs, field.TooMany(field.NewPath("<file>"), sc.visits, maxNodes))
		}
		return
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // unset
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	at := func() *field.Path {
		if path == nil {
			return field.NewPath("<file>")
		}
		return path
	}
	if reflect.PointerTo(t).Implements(unmarshaler) {
		if n.Kind != yaml.ScalarNode {
			*errs = append(*errs, field.Invalid(at(), nil, fmt.Sprintf("line %d: want a single value, got a %s", n.Line, kindName(n))))
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			*errs = append(*errs, field.Invalid(at(), nil, fmt.Sprintf("line %d: want a mapping of fields, got a %s", n.Line, kindName(n))))
			return
		}
		fields := jsonFields(t)
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := child(path, k.Value)
			if line, dup := seen[k.Value]; dup {
				*errs = append(*errs, field.Forbidden(p, fmt.Sprintf("line %d: given twice (first on line %d)", k.Line, line)))
				continue
			}
			seen[k.Value] = k.Line
			ft, ok := fields[k.Value]
			if !ok {
				msg := fmt.Sprintf("line %d: unknown field", k.Line)
				for name := range fields {
					if strings.EqualFold(name, k.Value) {
						msg += fmt.Sprintf(" (field names are case-sensitive: did you mean %q?)", name)
					}
				}
				*errs = append(*errs, field.Forbidden(p, msg))
				continue
			}
			sc.check(v, ft, p)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			*errs = append(*errs, field.Invalid(at(), nil, fmt.Sprintf("line %d: want a mapping, got a %s", n.Line, kindName(n))))
			return
		}
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := at().Key(k.Value)
			if line, dup := seen[k.Value]; dup {
				*errs = append(*errs, field.Forbidden(p, fmt.Sprintf("line %d: given twice (first on line %d)", k.Line, line)))
				continue
			}
			seen[k.Value] = k.Line
			sc.check(v, t.Elem(), p)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			*errs = append(*errs, field.Invalid(at(), nil, fmt.Sprintf("line %d: want a list, got a %s", n.Line, kindName(n))))
			return
		}
		for i, item := range n.Content {
			sc.check(item, t.Elem(), at().Index(i))
		}
	case reflect.String:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
			*errs = append(*errs, field.Invalid(at(), n.Value, fmt.Sprintf("line %d: want a string, got a %s (quote it)", n.Line, kindName(n))))
		}
	case reflect.Int, reflect.Int64, reflect.Int32:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
			*errs = append(*errs, field.Invalid(at(), n.Value, fmt.Sprintf("line %d: want a whole number, got a %s", n.Line, kindName(n))))
		}
	case reflect.Float64:
		if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") {
			*errs = append(*errs, field.Invalid(at(), n.Value, fmt.Sprintf("line %d: want a number, got a %s", n.Line, kindName(n))))
		} else if v := strings.ToLower(n.Value); strings.Contains(v, "nan") || strings.Contains(v, "inf") {
			*errs = append(*errs, field.Invalid(at(), n.Value, fmt.Sprintf("line %d: must be a finite number", n.Line)))
		}
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
			*errs = append(*errs, field.Invalid(at(), n.Value, fmt.Sprintf("line %d: want true or false, got a %s", n.Line, kindName(n))))
		}
	}
}

func child(path *field.Path, name string) *field.Path {
	if path == nil {
		return field.NewPath(name)
	}
	return path.Child(name)
}

// kindName says what a YAML node is, in words.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	}
	switch n.Tag {
	case "!!str":
		return fmt.Sprintf("string %q", n.Value)
	case "!!int":
		return "number " + n.Value
	case "!!float":
		return "number " + n.Value
	case "!!bool":
		return "boolean " + n.Value
	}
	return "value " + n.Value
}

// jsonFields maps a struct's JSON names to field types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = f.Type
	}
	return m
}
