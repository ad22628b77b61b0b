package config

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/presignd/presignd/internal/suggest"
)

// Problem is one thing wrong with a configuration.
type Problem struct {
	// Line in the file, 1-based; 0 when the key is not in the file (a
	// default, a variable or a flag set it).
	Line int
	// Key is the YAML path: categories.docs.max_size, content_types[0].
	Key string
	// Env names the variable that set the value, if one did.
	Env     string
	Message string
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	b.WriteString(p.Key)
	if p.Env != "" {
		fmt.Fprintf(&b, " (%s)", p.Env)
	}
	b.WriteString(": ")
	b.WriteString(p.Message)
	return b.String()
}

// Problems is every problem a configuration has, in the order of the file
// (problems without a line last). It is the error Build, Parse and
// Validate return for a configuration that is wrong.
type Problems []Problem

// Error is the one problem, or "N problems:" and one problem a line.
func (ps Problems) Error() string {
	if len(ps) == 1 {
		return ps[0].String()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d problems:", len(ps))
	for _, p := range ps {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

func (ps Problems) sort() {
	sort.SliceStable(ps, func(i, j int) bool {
		li, lj := ps[i].Line, ps[j].Line
		if (li == 0) != (lj == 0) {
			return lj == 0
		}
		return li < lj
	})
}

// decodeFile decodes a YAML document into c, checking every key and value
// against Config first: unknown keys (with the known key they most likely
// meant) and values of the wrong kind are reported with their line and
// left out, so that the rest still decodes and every problem of the file
// is reported at once. It returns the document, to find the lines of keys
// that later checks name, or nil for an empty file.
func decodeFile(data []byte, c *Config) (*yaml.Node, Problems, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, nil, err // a syntax error; yaml names its line
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, nil, nil // an empty file is an empty config
	}
	root := doc.Content[0]
	var probs Problems
	add := func(n *yaml.Node, key, format string, args ...any) {
		probs = append(probs, Problem{Line: n.Line, Key: key, Message: fmt.Sprintf(format, args...)})
	}
	if !checkNode(root, reflect.TypeFor[Config](), "", add, 0) {
		return &doc, probs, nil
	}
	if err := root.Decode(c); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, nil, err
		}
		for _, e := range te.Errors {
			probs = append(probs, typeErrorProblem(e))
		}
	}
	return &doc, probs, nil
}

var typeErrorLine = regexp.MustCompile(`^line (\d+): (.*)$`)

func typeErrorProblem(e string) Problem {
	if m := typeErrorLine.FindStringSubmatch(e); m != nil {
		line, _ := strconv.Atoi(m[1])
		return Problem{Line: line, Key: "(value)", Message: m[2]}
	}
	return Problem{Key: "(value)", Message: e}
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// checkNode checks n against t, reporting problems with add, and removes
// what it reports from n so that n decodes. It returns false when n itself
// cannot be decoded into t and must be left out by its parent.
func checkNode(n *yaml.Node, t reflect.Type, key string, add func(n *yaml.Node, key, format string, args ...any), depth int) bool {
	if depth > 32 {
		add(n, key, "is nested too deeply")
		return false
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return false
		}
		return checkNode(n.Alias, t, key, add, depth+1)
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return true // an empty value leaves the default
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		if n.Kind != yaml.ScalarNode {
			add(n, key, "must be a single value, not a %s", kindName(n))
			return false
		}
		u := reflect.New(t).Interface().(yaml.Unmarshaler)
		if err := u.UnmarshalYAML(n); err != nil {
			add(n, key, "%s", strings.TrimPrefix(err.Error(), fmt.Sprintf("line %d: ", n.Line)))
			return false
		}
		return true
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			add(n, key, "must be a mapping of keys, not a %s", kindName(n))
			return false
		}
		fields := map[string]reflect.StructField{}
		var names []string
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" || !f.IsExported() {
				continue
			}
			fields[name] = f
			names = append(names, name)
		}
		kept := n.Content[:0:0]
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Tag == "!!merge" { // <<: *anchor merges a mapping (or a list of them) in
				ok := false
				if v.Kind == yaml.SequenceNode {
					ok = checkEach(v.Content, t, key, add, depth+1)
				} else {
					ok = checkNode(v, t, key, add, depth+1)
				}
				if ok {
					kept = append(kept, k, v)
				}
				continue
			}
			sub := join(key, k.Value)
			f, ok := fields[k.Value]
			if !ok {
				if s := suggest.Closest(k.Value, names); s != "" {
					add(k, sub, "unknown key; did you mean %q?", s)
				} else {
					add(k, sub, "unknown key; %s takes %s", orTop(key), strings.Join(names, ", "))
				}
				continue
			}
			if checkNode(v, f.Type, sub, add, depth+1) {
				kept = append(kept, k, v)
			}
		}
		n.Content = kept
		return true
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			add(n, key, "must be a mapping of names, not a %s", kindName(n))
			return false
		}
		kept := n.Content[:0:0]
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if checkNode(v, t.Elem(), join(key, k.Value), add, depth+1) {
				kept = append(kept, k, v)
			}
		}
		n.Content = kept
		return true
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			add(n, key, "must be a list, not a %s", kindName(n))
			return false
		}
		kept := n.Content[:0:0]
		for i, item := range n.Content {
			if checkNode(item, t.Elem(), fmt.Sprintf("%s[%d]", key, i), add, depth+1) {
				kept = append(kept, item)
			}
		}
		n.Content = kept
		return true
	}
	if n.Kind != yaml.ScalarNode {
		add(n, key, "must be a single value, not a %s", kindName(n))
		return false
	}
	switch t.Kind() {
	case reflect.Bool:
		if n.Tag != "!!bool" {
			add(n, key, "%q is not true or false", n.Value)
			return false
		}
	case reflect.Int, reflect.Int64, reflect.Int32:
		if n.Tag != "!!int" {
			add(n, key, "%q is not a whole number", n.Value)
			return false
		}
	case reflect.Float64, reflect.Float32:
		if n.Tag != "!!int" && n.Tag != "!!float" {
			add(n, key, "%q is not a number", n.Value)
			return false
		}
	}
	return true
}

// checkEach checks every node of a merge list against t.
func checkEach(nodes []*yaml.Node, t reflect.Type, key string, add func(n *yaml.Node, key, format string, args ...any), depth int) bool {
	ok := true
	for _, n := range nodes {
		ok = checkNode(n, t, key, add, depth) && ok
	}
	return ok
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	default:
		return "single value"
	}
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

func orTop(key string) string {
	if key == "" {
		return "the top level"
	}
	return key
}

var keyPart = regexp.MustCompile(`[^.\[\]]+|\[\d+\]`)

// lineOf returns the line of key in doc, or of its nearest ancestor in the
// file when key itself is not there; 0 when none is.
func lineOf(doc *yaml.Node, key string) int {
	if doc == nil || len(doc.Content) == 0 {
		return 0
	}
	n, line := doc.Content[0], 0
	for _, part := range keyPart.FindAllString(key, -1) {
		for n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		var next *yaml.Node
		switch {
		case strings.HasPrefix(part, "[") && n.Kind == yaml.SequenceNode:
			i, _ := strconv.Atoi(strings.Trim(part, "[]"))
			if i < len(n.Content) {
				next = n.Content[i]
				line = next.Line
			}
		case n.Kind == yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == part {
					next = n.Content[i+1]
					line = n.Content[i].Line
					break
				}
			}
		}
		if next == nil {
			return line
		}
		n = next
	}
	return line
}
