package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// EnvPrefix starts the environment variables that override configuration
// keys: PRESIGND_ and the key's path in upper snake case, so http_addr is
// PRESIGND_HTTP_ADDR and store.postgres.uri is PRESIGND_STORE_POSTGRES_URI.
// Every scalar key outside maps and lists has one (see EnvVars).
const EnvPrefix = "PRESIGND_"

// Sources are where a configuration comes from, in increasing precedence:
// the built-in defaults, File, the environment, then Override (flags).
type Sources struct {
	// File is a YAML file; empty for none.
	File string
	// LookupEnv reads the environment (os.LookupEnv); nil ignores it.
	LookupEnv func(string) (string, bool)
	// Override applies flags last; nil for none. It sets only what the
	// user gave, so that unset flags leave lower sources alone.
	Override func(*Config)
}

// Build merges the sources and validates the result once, after merging.
// A configuration that is wrong gives Problems, every one at once: each
// names its key, its line in the file when the file set it, and the
// variable when the environment set it; an unknown key names the known key
// it most likely meant.
func Build(src Sources) (*Config, error) {
	var data []byte
	where := ""
	if src.File != "" {
		where = " " + src.File
		var err error
		if data, err = os.ReadFile(src.File); err != nil {
			return nil, fmt.Errorf("read config: %w", err)
		}
	}
	c, err := build(data, src)
	if err != nil {
		return nil, fmt.Errorf("config%s: %w", where, err)
	}
	return c, nil
}

func build(data []byte, src Sources) (*Config, error) {
	var c Config
	doc, probs, err := decodeFile(data, &c)
	if err != nil {
		return nil, err
	}
	var fromEnv map[string]string
	if src.LookupEnv != nil {
		var envProbs Problems
		fromEnv, envProbs = c.applyEnv(src.LookupEnv)
		probs = append(probs, envProbs...)
	}
	if src.Override != nil {
		src.Override(&c)
	}
	c.ApplyDefaults()
	var invalid Problems
	if errors.As(c.Validate(), &invalid) {
		for _, p := range invalid {
			if env, ok := fromEnv[p.Key]; ok {
				p.Env = env
			} else {
				p.Line = lineOf(doc, p.Key)
			}
			probs = append(probs, p)
		}
	}
	if len(probs) > 0 {
		probs.sort()
		return nil, probs
	}
	return &c, nil
}

// envKey is one configuration key that an environment variable can set.
type envKey struct {
	key, env string
	path     []int // field indexes from Config
}

// envKeys lists the overridable keys of Config, found from its yaml tags.
func envKeys() []envKey {
	var out []envKey
	var walk func(t reflect.Type, prefix string, path []int)
	walk = func(t reflect.Type, prefix string, path []int) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" || !f.IsExported() {
				continue
			}
			key := prefix + name
			p := append(append([]int(nil), path...), i)
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			switch {
			case ft == reflect.TypeFor[Duration]() || ft == reflect.TypeFor[ByteSize]():
			case ft.Kind() == reflect.Struct:
				walk(ft, key+".", p)
				continue
			case ft.Kind() == reflect.Map || ft.Kind() == reflect.Slice:
				continue
			}
			out = append(out, envKey{key: key, env: EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_")), path: p})
		}
	}
	walk(reflect.TypeFor[Config](), "", nil)
	return out
}

// EnvVars returns every environment variable that overrides a key, by key.
func EnvVars() map[string]string {
	m := map[string]string{}
	for _, k := range envKeys() {
		m[k.key] = k.env
	}
	return m
}

// applyEnv sets every key whose variable is set and not empty, and returns
// the variables used, by key.
func (c *Config) applyEnv(lookup func(string) (string, bool)) (map[string]string, Problems) {
	used := map[string]string{}
	var probs Problems
	for _, k := range envKeys() {
		raw, ok := lookup(k.env)
		if !ok || raw == "" {
			continue
		}
		v := reflect.ValueOf(c).Elem()
		for _, i := range k.path {
			if v.Kind() == reflect.Pointer {
				if v.IsNil() {
					v.Set(reflect.New(v.Type().Elem()))
				}
				v = v.Elem()
			}
			v = v.Field(i)
		}
		if v.Kind() == reflect.Pointer {
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		if err := setScalar(v, raw); err != nil {
			probs = append(probs, Problem{Key: k.key, Env: k.env, Message: err.Error()})
			continue
		}
		used[k.key] = k.env
	}
	return used, probs
}

func setScalar(v reflect.Value, raw string) error {
	switch v.Type() {
	case reflect.TypeFor[Duration]():
		d, err := time.ParseDuration(raw)
		if err != nil {
			return fmt.Errorf("%q is not a duration such as 15m or 300s", raw)
		}
		v.SetInt(int64(d))
		return nil
	case reflect.TypeFor[ByteSize]():
		b, err := ParseByteSize(raw)
		if err != nil {
			return err
		}
		v.SetInt(int64(b))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(raw)
	case reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return fmt.Errorf("%q is not true or false", raw)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64, reflect.Int32:
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not an integer", raw)
		}
		v.SetInt(n)
	case reflect.Float64, reflect.Float32:
		f, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", raw)
		}
		v.SetFloat(f)
	default:
		return fmt.Errorf("cannot be set from the environment")
	}
	return nil
}
