package config

import (
	"encoding"
	"fmt"
	"math"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"
)

// decoder fills Go values from a yaml.Node tree by reflection, strictly:
// every key must name a field (yaml tags, `yaml:",inline"` structs and maps,
// lower-cased field names as yaml.v3 does), every scalar must parse as its
// field's type, and every problem is recorded with its line and field path.
// Types implementing yaml.Unmarshaler decode themselves.
type decoder struct {
	probs *problems
	// orig maps scalar nodes whose value came from ${VAR} expansion to the
	// text written in the file, so messages never show environment values.
	orig map[*yaml.Node]string
}

var (
	durationType        = reflect.TypeFor[time.Duration]()
	prefixType          = reflect.TypeFor[netip.Prefix]()
	nodeType            = reflect.TypeFor[yaml.Node]()
	yamlUnmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// quote returns the scalar as written in the file, quoted, for messages.
func (d *decoder) quote(n *yaml.Node) string {
	if o, ok := d.orig[n]; ok {
		return strconv.Quote(o)
	}
	return strconv.Quote(n.Value)
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "nothing (null)"
		}
		return "a scalar " + truncate(strconv.Quote(n.Value))
	case yaml.AliasNode:
		return "an alias"
	}
	return "a document"
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}

func (d *decoder) mismatch(n *yaml.Node, path, want string) {
	if n.Kind == yaml.ScalarNode && !isNull(n) {
		d.probs.at(n, path, "expected %s, got %s", want, truncate(d.quote(n)))
		return
	}
	d.probs.at(n, path, "expected %s, got %s", want, kindName(n))
}

// decode fills v (settable) from n.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode {
		return // refused (and reported) while expanding
	}
	if v.Type() == nodeType {
		v.Set(reflect.ValueOf(*n))
		return
	}
	if isNull(n) {
		// As yaml.v3 does: null clears pointers, maps, slices and
		// interfaces, and leaves other values (a kind's defaults) alone.
		switch v.Kind() {
		case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface:
			v.SetZero()
		}
		return
	}
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), path)
		return
	}
	if v.CanAddr() {
		if v.Addr().Type().Implements(yamlUnmarshalerType) {
			if err := v.Addr().Interface().(yaml.Unmarshaler).UnmarshalYAML(n); err != nil {
				d.probs.at(n, path, "%s", d.scrub(n, strings.TrimPrefix(err.Error(), "yaml: ")))
			}
			return
		}
	}
	switch v.Type() {
	case durationType:
		if s, ok := d.scalar(n, path, "a duration"); ok {
			dur, err := time.ParseDuration(s)
			if err != nil {
				d.probs.at(n, path, "invalid duration %s (use e.g. 30s, 5m, 1h30m)", d.quote(n))
				return
			}
			v.SetInt(int64(dur))
		}
		return
	case prefixType:
		if s, ok := d.scalar(n, path, "an address prefix"); ok {
			p, err := parsePrefix(s)
			if err != nil {
				d.probs.at(n, path, "invalid prefix %s (use e.g. 10.0.0.0/8, 192.0.2.10 or ::1/128)", d.quote(n))
				return
			}
			v.Set(reflect.ValueOf(p))
		}
		return
	}
	if v.CanAddr() && v.Addr().Type().Implements(textUnmarshalerType) {
		if s, ok := d.scalar(n, path, "a scalar"); ok {
			if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
				d.probs.at(n, path, "%s", d.scrub(n, err.Error()))
			}
		}
		return
	}
	switch v.Kind() {
	case reflect.String:
		if s, ok := d.scalar(n, path, "a string"); ok {
			v.SetString(s)
		}
	case reflect.Bool:
		if s, ok := d.scalar(n, path, "true or false"); ok {
			switch s {
			case "true", "True", "TRUE":
				v.SetBool(true)
			case "false", "False", "FALSE":
				v.SetBool(false)
			default:
				d.mismatch(n, path, "true or false")
			}
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if s, ok := d.scalar(n, path, "an integer"); ok {
			i, err := strconv.ParseInt(s, 0, v.Type().Bits())
			if err != nil {
				d.intErr(n, path, err)
				return
			}
			v.SetInt(i)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if s, ok := d.scalar(n, path, "a non-negative integer"); ok {
			i, err := strconv.ParseUint(s, 0, v.Type().Bits())
			if err != nil {
				if i, serr := strconv.ParseInt(s, 0, 64); serr == nil && i < 0 {
					d.probs.at(n, path, "expected a non-negative integer, got %s", d.quote(n))
					return
				}
				d.intErr(n, path, err)
				return
			}
			v.SetUint(i)
		}
	case reflect.Float32, reflect.Float64:
		if s, ok := d.scalar(n, path, "a number"); ok {
			f, err := strconv.ParseFloat(s, v.Type().Bits())
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				d.mismatch(n, path, "a number")
				return
			}
			v.SetFloat(f)
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 && n.Kind == yaml.ScalarNode {
			v.SetBytes([]byte(n.Value))
			return
		}
		if n.Kind != yaml.SequenceNode {
			d.mismatch(n, path, "a list")
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			d.decode(c, s.Index(i), joinIndex(path, i))
		}
		v.Set(s)
	case reflect.Array:
		if n.Kind != yaml.SequenceNode || len(n.Content) != v.Len() {
			d.mismatch(n, path, fmt.Sprintf("a list of %d items", v.Len()))
			return
		}
		for i, c := range n.Content {
			d.decode(c, v.Index(i), joinIndex(path, i))
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.mismatch(n, path, "a mapping")
			return
		}
		v.Set(reflect.MakeMap(v.Type()))
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if !d.key(k, path, seen) {
				continue
			}
			d.mapEntry(v, k, val, path)
		}
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			d.mismatch(n, path, "a mapping")
			return
		}
		d.structFields(n, v, path, nil)
	case reflect.Interface:
		if v.NumMethod() != 0 {
			d.probs.at(n, path, "cannot decode into %s", v.Type())
			return
		}
		if a := toAny(n); a != nil {
			v.Set(reflect.ValueOf(a))
		}
	default:
		d.probs.at(n, path, "cannot decode into %s", v.Type())
	}
}

// mapEntry decodes one key/value pair into map m.
func (d *decoder) mapEntry(m reflect.Value, k, val *yaml.Node, path string) {
	if m.IsNil() {
		m.Set(reflect.MakeMap(m.Type()))
	}
	kt := m.Type().Key()
	kv := reflect.New(kt).Elem()
	switch {
	case kt.Kind() == reflect.String:
		kv.SetString(k.Value)
	case reflect.PointerTo(kt).Implements(textUnmarshalerType):
		if err := kv.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(k.Value)); err != nil {
			d.probs.at(k, path, "invalid key %s: %s", strconv.Quote(k.Value), err)
			return
		}
	default:
		d.probs.at(k, path, "cannot decode keys into %s", kt)
		return
	}
	ev := reflect.New(m.Type().Elem()).Elem()
	d.decode(val, ev, joinKey(path, k.Value))
	m.SetMapIndex(kv, ev)
}

// key checks a mapping key: a plain string, not a merge key, not repeated.
func (d *decoder) key(k *yaml.Node, path string, seen map[string]int) bool {
	if k.Kind != yaml.ScalarNode {
		if k.Kind != yaml.AliasNode {
			d.probs.at(k, path, "keys must be strings, got %s", kindName(k))
		}
		return false
	}
	if k.ShortTag() == "!!merge" {
		d.probs.at(k, path, "merge keys (<<) are not supported; write the fields out")
		return false
	}
	if first, dup := seen[k.Value]; dup {
		d.probs.at(k, path, "duplicate key %s (first at line %d)", strconv.Quote(k.Value), first)
		return false
	}
	seen[k.Value] = k.Line
	return true
}

// extraKeys lets a caller take keys a struct does not know (probe kinds).
type extraKeys struct {
	names []string // offered as suggestions for mistyped keys
	take  func(k, val *yaml.Node) bool
	// what names the unknown key in messages ("field or probe kind").
	what string
}

// structFields decodes mapping n into struct v, reporting unknown keys.
func (d *decoder) structFields(n *yaml.Node, v reflect.Value, path string, extra *extraKeys) {
	info := structInfoOf(v.Type())
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if !d.key(k, path, seen) {
			continue
		}
		if f, ok := info.fields[k.Value]; ok {
			d.decode(val, fieldAlloc(v, f), joinKey(path, k.Value))
			continue
		}
		if extra != nil && extra.take(k, val) {
			continue
		}
		if info.inlineMap != nil {
			d.mapEntry(fieldAlloc(v, info.inlineMap), k, val, path)
			continue
		}
		what, names := "field", info.names
		if extra != nil {
			what, names = extra.what, append(append([]string(nil), names...), extra.names...)
		}
		msg := fmt.Sprintf("unknown %s %s", what, strconv.Quote(k.Value))
		if s := suggest(k.Value, names); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		} else if extra != nil && len(extra.names) > 0 {
			msg += " (probe kinds: " + strings.Join(extra.names, ", ") + ")"
		}
		d.probs.at(k, path, "%s", msg)
	}
}

// scalar returns n's value if n is a scalar, else reports a mismatch.
func (d *decoder) scalar(n *yaml.Node, path, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.mismatch(n, path, want)
		return "", false
	}
	return n.Value, true
}

func (d *decoder) intErr(n *yaml.Node, path string, err error) {
	if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
		d.probs.at(n, path, "integer %s is out of range", d.quote(n))
		return
	}
	d.mismatch(n, path, "an integer")
}

// scrub replaces an expanded value in msg by the text written in the file.
func (d *decoder) scrub(n *yaml.Node, msg string) string {
	if o, ok := d.orig[n]; ok && n.Value != "" {
		return strings.ReplaceAll(msg, n.Value, o)
	}
	return msg
}

// parsePrefix accepts a prefix or a bare address (a /32 or /128).
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("zones are not allowed")
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Struct field tables, cached per type.

type structInfo struct {
	fields    map[string][]int // YAML key -> field index path
	names     []string         // keys in declaration order, for suggestions
	inlineMap []int            // index path of a `yaml:",inline"` map, if any
}

var structInfos sync.Map // reflect.Type -> *structInfo

func structInfoOf(t reflect.Type) *structInfo {
	if si, ok := structInfos.Load(t); ok {
		return si.(*structInfo)
	}
	si := &structInfo{fields: map[string][]int{}}
	collectFields(t, nil, si, 0)
	structInfos.Store(t, si)
	return si
}

func collectFields(t reflect.Type, prefix []int, si *structInfo, depth int) {
	if depth > 16 {
		return // a recursive inline: yaml.v3 refuses those too
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		inline := false
		for _, o := range strings.Split(opts, ",") {
			if o == "inline" {
				inline = true
			}
		}
		idx := append(append([]int(nil), prefix...), i)
		if inline {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			switch ft.Kind() {
			case reflect.Struct:
				collectFields(ft, idx, si, depth+1)
				continue
			case reflect.Map:
				if si.inlineMap == nil && f.IsExported() {
					si.inlineMap = idx
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		if _, dup := si.fields[name]; dup {
			continue
		}
		si.fields[name] = idx
		si.names = append(si.names, name)
	}
}

// fieldAlloc returns the field at index path idx, allocating nil pointers of
// inline structs on the way.
func fieldAlloc(v reflect.Value, idx []int) reflect.Value {
	for i, x := range idx {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v
}

// toAny converts a node to plain Go values shaped like decoded JSON:
// map[string]any, []any, string, int, float64, bool, nil.
func toAny(n *yaml.Node) any {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) > 0 {
			return toAny(n.Content[0])
		}
		return nil
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			m[n.Content[i].Value] = toAny(n.Content[i+1])
		}
		return m
	case yaml.SequenceNode:
		s := make([]any, len(n.Content))
		for i, c := range n.Content {
			s[i] = toAny(c)
		}
		return s
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil
		case "!!bool":
			if b, err := strconv.ParseBool(strings.ToLower(n.Value)); err == nil {
				return b
			}
		case "!!int":
			if i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64); err == nil {
				return int(i)
			}
		case "!!float":
			if f, err := strconv.ParseFloat(n.Value, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
				return f
			}
		}
		return n.Value
	}
	return nil
}
