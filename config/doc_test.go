package config

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/config.md from the Config struct")

//go:generate go test -run TestConfigDocIsFresh -update .

const configDocPath = "../docs/config.md"

// TestConfigDocIsFresh generates docs/config.md from the Config struct,
// its yaml tags and its fields' doc comments, and fails when the committed
// file differs or a setting has no doc comment. "go generate ./config"
// rewrites it.
func TestConfigDocIsFresh(t *testing.T) {
	doc, undocumented := configDoc(t)
	for _, key := range undocumented {
		t.Errorf("setting %s has no doc comment in config/: every setting is documented in docs/config.md from it", key)
	}
	if *update {
		if err := os.WriteFile(configDocPath, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(configDocPath)
	if err != nil {
		t.Fatalf("%v (run go generate ./config)", err)
	}
	if string(got) != doc {
		t.Errorf("docs/config.md is stale: run go generate ./config and commit the result")
	}
}

// configDoc renders the settings as a Markdown table per section and
// returns the keys that have no doc comment.
func configDoc(t *testing.T) (string, []string) {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	comments := map[string]map[string]string{} // type → field → doc
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok {
				return true
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				return true
			}
			fields := map[string]string{}
			for _, fld := range st.Fields.List {
				text := strings.TrimSpace(fld.Doc.Text())
				if text == "" {
					text = strings.TrimSpace(fld.Comment.Text())
				}
				for _, n := range fld.Names {
					fields[n.Name] = strings.Join(strings.Fields(text), " ")
				}
			}
			comments[ts.Name.Name] = fields
			return false
		})
	}
	env := EnvVars()
	var b strings.Builder
	b.WriteString(`# Configuration reference

<!-- Generated from config/*.go by "go generate ./config"; do not edit. -->

presignd reads one YAML file (` + "`presignd serve --config FILE`" + `). Precedence:
built-in defaults, then the file, then the ` + "`PRESIGND_*`" + ` environment
variables (every scalar key outside lists and maps has one, named in the
table), then flags. ` + "`presignd config check FILE`" + ` reports every problem at
once, with its line. ` + "`<name>`" + ` stands for a name you choose (a backend, a
category, an owner field); ` + "`[]`" + ` for an item of a list.

Sizes are bytes or a number with a unit (B, KB, MB, GB, TB, KiB, MiB, GiB,
TiB); durations are Go durations such as ` + "`15m`" + `, ` + "`300s`" + `, ` + "`1h30m`" + `.

| key | type | environment variable | description |
|---|---|---|---|
`)
	var undocumented []string
	var walk func(rt reflect.Type, prefix string)
	walk = func(rt reflect.Type, prefix string) {
		for i := range rt.NumField() {
			f := rt.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" || !f.IsExported() {
				continue
			}
			key := prefix + name
			text := comments[rt.Name()][f.Name]
			if text == "" {
				undocumented = append(undocumented, key)
			}
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", key, typeName(ft), envCell(env[key]), strings.ReplaceAll(text, "|", `\|`))
			switch {
			case ft == reflect.TypeFor[Duration]() || ft == reflect.TypeFor[ByteSize]():
			case ft.Kind() == reflect.Struct:
				walk(ft, key+".")
			case ft.Kind() == reflect.Map && ft.Elem().Kind() == reflect.Struct:
				walk(ft.Elem(), key+".<name>.")
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
				walk(ft.Elem(), key+"[].")
			}
		}
	}
	walk(reflect.TypeFor[Config](), "")
	return b.String(), undocumented
}

func envCell(v string) string {
	if v == "" {
		return ""
	}
	return "`" + v + "`"
}

func typeName(t reflect.Type) string {
	switch t {
	case reflect.TypeFor[Duration]():
		return "duration"
	case reflect.TypeFor[ByteSize]():
		return "size"
	}
	switch t.Kind() {
	case reflect.Struct:
		return "section"
	case reflect.Map:
		return "map of " + typeName(t.Elem())
	case reflect.Slice:
		return "list of " + typeName(t.Elem())
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "integer"
	case reflect.Float64, reflect.Float32:
		return "number"
	}
	return t.Kind().String()
}
