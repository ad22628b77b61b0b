package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func writeFile(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "presignd.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestBuildPrecedenceIsDefaultsFileEnvFlags(t *testing.T) {
	file := writeFile(t, "http_addr: ':9000'\ngrpc_addr: ':9001'\ndata_dir: /from/file\nlog: {format: text}\n")
	env := map[string]string{
		"PRESIGND_GRPC_ADDR":                                ":7001",
		"PRESIGND_DATA_DIR":                                 "/from/env",
		"PRESIGND_LOG_FORMAT":                               "json",
		"PRESIGND_PUBLIC_URL":                               "", // empty: not set
		"PRESIGND_STORE_DRIVER":                             "postgres",
		"PRESIGND_STORE_POSTGRES_URI":                       "postgres://db/x",
		"PRESIGND_AUTH_API_KEY_CACHE_TTL":                   "7s",
		"PRESIGND_TENANT_QUOTA":                             "1GiB",
		"PRESIGND_TELEMETRY_SAMPLE_RATIO":                   "0.5",
		"PRESIGND_TELEMETRY_OTLP_INSECURE":                  "true",
		"PRESIGND_SWEEPER_INTERVAL":                         "0s",
		"PRESIGND_AUTH_RATE_LIMIT_CREATE_UPLOAD_PER_SECOND": "2.5",
	}
	c, err := Build(Sources{File: file, LookupEnv: envOf(env), Override: func(c *Config) { c.DataDir = "/from/flag" }})
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		key       string
		got, want any
	}{
		{"http_addr (file)", c.HTTPAddr, ":9000"},
		{"grpc_addr (env over file)", c.GRPCAddr, ":7001"},
		{"data_dir (flag over env)", c.DataDir, "/from/flag"},
		{"log.format (env)", c.Log.Format, "json"},
		{"log.level (default)", c.Log.Level, "info"},
		{"public_url (empty env is unset)", c.PublicURL, ""},
		{"store.driver", c.Store.Driver, "postgres"},
		{"store.postgres.uri", c.Store.Postgres.URI, "postgres://db/x"},
		{"auth.api_key_cache_ttl", time.Duration(*c.Auth.APIKeyCacheTTL), 7 * time.Second},
		{"tenant_quota", int64(c.TenantQuota), int64(1 << 30)},
		{"telemetry.sample_ratio", c.Telemetry.SampleRatio, 0.5},
		{"telemetry.otlp_insecure", c.Telemetry.OTLPInsecure, true},
		{"sweeper.interval (a pointer)", time.Duration(*c.Sweeper.Interval), time.Duration(0)},
		{"auth.rate_limit.create_upload.per_second", c.Auth.RateLimit.CreateUpload.PerSecond, 2.5},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.key, ch.got, ch.want)
		}
	}
}

func TestBuildErrorsNameTheVariable(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"a value that does not parse", map[string]string{"PRESIGND_TENANT_QUOTA": "lots"}, []string{"tenant_quota (PRESIGND_TENANT_QUOTA)", "lots"}},
		{"a bool that does not parse", map[string]string{"PRESIGND_TELEMETRY_OTLP_INSECURE": "maybe"}, []string{"telemetry.otlp_insecure (PRESIGND_TELEMETRY_OTLP_INSECURE)"}},
		{"a value that fails validation", map[string]string{"PRESIGND_LOG_LEVEL": "loud"}, []string{"log.level (PRESIGND_LOG_LEVEL): must be"}},
		{"a short secret", map[string]string{"PRESIGND_SECRET": "short"}, []string{"secret (PRESIGND_SECRET): must be at least 32"}},
		{"a driver without its uri", map[string]string{"PRESIGND_STORE_DRIVER": "postgres"}, []string{"store.postgres.uri: is required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Build(Sources{LookupEnv: envOf(tt.env)})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestBuildFileErrorsNameTheFileAndKey(t *testing.T) {
	file := writeFile(t, "log: {format: xml}\n")
	_, err := Build(Sources{File: file, LookupEnv: envOf(nil)})
	if err == nil || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), "log.format: must be text or json") ||
		strings.Contains(err.Error(), "PRESIGND_") {
		t.Fatalf("error = %v", err)
	}
}

func TestEnvVarsCoverTheTopLevelScalars(t *testing.T) {
	vars := EnvVars()
	for key, want := range map[string]string{
		"http_addr": "PRESIGND_HTTP_ADDR", "grpc_addr": "PRESIGND_GRPC_ADDR", "public_url": "PRESIGND_PUBLIC_URL",
		"data_dir": "PRESIGND_DATA_DIR", "log.format": "PRESIGND_LOG_FORMAT", "log.level": "PRESIGND_LOG_LEVEL",
		"store.driver": "PRESIGND_STORE_DRIVER", "store.postgres.uri": "PRESIGND_STORE_POSTGRES_URI",
		"secret": "PRESIGND_SECRET", "telemetry.otlp_endpoint": "PRESIGND_TELEMETRY_OTLP_ENDPOINT",
		"debug_addr": "PRESIGND_DEBUG_ADDR",
	} {
		if vars[key] != want {
			t.Errorf("%s: variable %q, want %q", key, vars[key], want)
		}
	}
	for key, v := range vars {
		if strings.HasPrefix(key, "backends") || strings.HasPrefix(key, "categories") {
			t.Errorf("%s (%s): map entries have no variables", key, v)
		}
		if v == "PRESIGND_DEV_API_KEY" || strings.HasPrefix(v, "PRESIGND_TEST_") {
			t.Errorf("%s collides with %s", key, v)
		}
	}
}

func TestTelemetryValidation(t *testing.T) {
	for _, tt := range []struct{ yaml, want string }{
		{"telemetry: {sample_ratio: 2}\n", "telemetry.sample_ratio"},
		{"telemetry: {otlp_endpoint: collector}\n", "telemetry.otlp_endpoint"},
		{"telemetry: {otlp_endpoint: 'ftp://x:1'}\n", "telemetry.otlp_endpoint"},
		{"debug_addr: pprof\n", "debug_addr"},
	} {
		if _, err := Parse([]byte(tt.yaml)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want one naming %s", tt.yaml, err, tt.want)
		}
	}
	for _, ok := range []string{"telemetry: {otlp_endpoint: 'collector:4317', otlp_insecure: true}\n", "telemetry: {otlp_endpoint: 'http://collector:4317'}\n", "debug_addr: 127.0.0.1:6060\n"} {
		if _, err := Parse([]byte(ok)); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
}

func TestTrustedProxiesValidation(t *testing.T) {
	for _, tt := range []struct{ yaml, want string }{
		{"trusted_proxies: [10.0.0.0/8, proxy.internal]\n", "trusted_proxies[1]"},
		{"trusted_proxies: ['10.0.0.0/33']\n", "trusted_proxies[0]"},
	} {
		if _, err := Parse([]byte(tt.yaml)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want one naming %s", tt.yaml, err, tt.want)
		}
	}
	c, err := Parse([]byte("trusted_proxies: [10.0.0.0/8, '192.0.2.1', 'fd00::/8']\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.TrustedProxies) != 3 {
		t.Errorf("trusted_proxies %v", c.TrustedProxies)
	}
}
