package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/presignd/presignd/policy"
)

func TestParseDefaults(t *testing.T) {
	c, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != ":8080" || c.GRPCAddr != ":8081" || c.DataDir != "./data" || c.Store.Driver != "sqlite" {
		t.Fatalf("defaults = %+v", c)
	}
	cats, err := c.Policies()
	if err != nil {
		t.Fatal(err)
	}
	d := cats["default"]
	if d == nil || d.MaxSize != 5<<30 || d.URLTTL != 15*time.Minute || d.Method != "PUT" || d.Backend != "local" || d.Key.String() != "{tenant}/{category}/{uuid}{ext}" {
		t.Fatalf("default category = %+v", d)
	}
}

func TestParseMultipart(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want policy.Multipart
	}{
		{"no section takes the defaults", "categories:\n  docs: {}\n",
			policy.Multipart{Threshold: 100 << 20, PartSize: 8 << 20, UploadTTL: 24 * time.Hour}},
		{"every key is read", "categories:\n  docs:\n    max_size: 5TiB\n    multipart: {threshold: 1GiB, part_size: 64MiB, part_checksum: CRC32C, upload_ttl: 2h}\n",
			policy.Multipart{Threshold: 1 << 30, PartSize: 64 << 20, PartChecksum: "CRC32C", UploadTTL: 2 * time.Hour}},
		{"a threshold of 0 stays 0: never automatic", "categories:\n  docs:\n    multipart: {threshold: 0}\n",
			policy.Multipart{Threshold: 0, PartSize: 8 << 20, UploadTTL: 24 * time.Hour}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			cats, err := c.Policies()
			if err != nil {
				t.Fatal(err)
			}
			if got := cats["docs"].Multipart; got != tt.want {
				t.Fatalf("multipart = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseReportsTheBadKey(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"an unknown top-level key names its line", "http_addr: x\nhtp_addr: y\n", []string{"line 2", "htp_addr"}},
		{"an unknown category key names its line", "categories:\n  docs:\n    max_sise: 1MB\n", []string{"line 3", "max_sise"}},
		{"YAML syntax errors name the line", "categories:\n  docs: [\n", []string{"line"}},
		{"a size without a known unit", "categories:\n  docs:\n    max_size: 10 parsecs\n", []string{"line 3", "not a size"}},
		{"a duration that is not one", "categories:\n  docs:\n    url_ttl: soon\n", []string{"line 3", "not a duration"}},
		{"a TTL out of range", "categories:\n  docs:\n    url_ttl: 200h\n", []string{"categories.docs.url_ttl"}},
		{"a download TTL limit out of range", "categories:\n  docs:\n    max_download_ttl: 200h\n", []string{"categories.docs.max_download_ttl"}},
		{"de-duplication without a required checksum", "categories:\n  docs:\n    deduplicate: true\n", []string{"categories.docs.deduplicate", "require_checksum"}},
		{"an owner header that carries credentials", "categories:\n  docs:\n    owner_headers: {business_id: Authorization}\n", []string{"categories.docs.owner_headers.business_id"}},
		{"an owner header that is not a header name", "categories:\n  docs:\n    owner_headers: {business_id: \"X Business\"}\n", []string{"categories.docs.owner_headers.business_id"}},
		{"an owner header for a bad field name", "categories:\n  docs:\n    owner_headers: {Business: X-Business-Id}\n", []string{"categories.docs.owner_headers.Business"}},
		{"a bodyless target without a content type", "categories:\n  docs:\n    bodyless_target: true\n", []string{"categories.docs.bodyless_target", "exactly one content type"}},
		{"a bodyless target with a wildcard type", "categories:\n  docs:\n    bodyless_target: true\n    content_types: [image/*]\n", []string{"categories.docs.bodyless_target", "image/*"}},
		{"a bodyless target with two types", "categories:\n  docs:\n    bodyless_target: true\n    content_types: [image/png, image/jpeg]\n", []string{"categories.docs.bodyless_target", "exactly one content type"}},
		{"a bodyless target with a required checksum", "categories:\n  docs:\n    bodyless_target: true\n    content_types: [application/pdf]\n    require_checksum: MD5\n", []string{"categories.docs.bodyless_target", "declares no checksum"}},
		{"a bodyless target over one PUT's size", "categories:\n  docs:\n    bodyless_target: true\n    content_types: [application/pdf]\n    max_size: 6GiB\n", []string{"categories.docs.bodyless_target", "5GiB"}},
		{"a bodyless target on an S3 PUT", "backends:\n  b:\n    driver: s3\n    s3: {bucket: x}\ncategories:\n  docs:\n    bodyless_target: true\n    content_types: [application/pdf]\n", []string{"categories.docs.bodyless_target", "method: POST", "content-length-range"}},
		{"a retention shorter than a minute", "categories:\n  docs:\n    retention: 30s\n", []string{"categories.docs.retention"}},
		{"a negative retention", "categories:\n  docs:\n    retention: -1h\n", []string{"categories.docs.retention"}},
		{"an undefined backend", "categories:\n  docs:\n    backend: s3main\n", []string{"categories.docs.backend", "s3main"}},
		{"a key template without uuid", "categories:\n  docs:\n    key_template: \"{tenant}/x\"\n", []string{"categories.docs.key_template", "{uuid}"}},
		{"a key template with traversal", "categories:\n  docs:\n    key_template: \"../{uuid}\"\n", []string{"categories.docs.key_template"}},
		{"a malformed content type", "categories:\n  docs:\n    content_types: [pdf]\n", []string{"categories.docs.content_types[0]"}},
		{"an unknown method", "categories:\n  docs:\n    method: PATCH\n", []string{"categories.docs.method"}},
		{"a relative public base URL", "categories:\n  docs:\n    public_base_url: /files/\n", []string{"categories.docs.public_base_url", "absolute"}},
		{"a public base URL with a query", "categories:\n  docs:\n    public_base_url: \"https://cdn.example.com/?a=1\"\n", []string{"categories.docs.public_base_url", "query"}},
		{"an unknown checksum", "categories:\n  docs:\n    require_checksum: SHA1\n", []string{"categories.docs.require_checksum"}},
		{"a bad name pattern", "categories:\n  docs:\n    name_rules: {pattern: \"([\"}\n", []string{"categories.docs.name_rules.pattern"}},
		{"inverted name lengths", "categories:\n  docs:\n    name_rules: {min_length: 9, max_length: 3}\n", []string{"categories.docs.name_rules"}},
		{"a bad scope", "categories:\n  docs:\n    scope: application\n", []string{"categories.docs.scope"}},
		{"an unknown credential kind", "categories:\n  docs:\n    credentials: [cookie]\n", []string{"categories.docs.credentials[0]"}},
		{"an access rule with an undeclared variable names its line and column", "categories:\n  docs:\n    access_rules:\n      - rule: \"reqest.size < 3\"\n", []string{"line 4", "categories.docs.access_rules[0].rule", "1:1", "undeclared reference to 'reqest'"}},
		{"an access rule that is not a bool", "categories:\n  docs:\n    access_rules:\n      - {name: small}\n      - {rule: \"request.size\"}\n", []string{"categories.docs.access_rules[0].rule: the rule is empty", "line 5", "access_rules[1].rule", "not a bool"}},
		{"an access rule naming a field requests lack", "categories:\n  docs:\n    access_rules: [{rule: \"request.ownr.a == 'x'\"}]\n", []string{"line 3", "1:8", `request has no field "ownr"`}},
		{"an unknown backend driver", "backends:\n  b:\n    driver: ftp\n", []string{"backends.b.driver"}},
		{"an s3 backend without bucket", "backends:\n  b:\n    driver: s3\n", []string{"backends.b.s3.bucket"}},
		{"an azure backend without account, container or key", "backends:\n  b:\n    driver: azure\n", []string{"backends.b.azure.account", "backends.b.azure.container", "backends.b.azure.account_key"}},
		{"an azure container with upper case", "backends:\n  b:\n    driver: azure\n    azure: {account: a, container: Files, account_key_env: K}\n", []string{"backends.b.azure.container", "not a container name"}},
		{"an azure key given twice", "backends:\n  b:\n    driver: azure\n    azure: {account: a, container: files, account_key: a2V5, account_key_env: K}\n", []string{"backends.b.azure.account_key", "not both"}},
		{"an azure key that is not base64", "backends:\n  b:\n    driver: azure\n    azure: {account: a, container: files, account_key: \"not base64\"}\n", []string{"backends.b.azure.account_key", "base64"}},
		{"an azure endpoint that is not a URL", "backends:\n  b:\n    driver: azure\n    azure: {account: a, container: files, account_key_env: K, endpoint: \"ftp://x\"}\n", []string{"backends.b.azure.endpoint"}},
		{"an azure auth that is not one", "backends:\n  b:\n    driver: azure\n    azure: {account: a, container: files, auth: oauth}\n", []string{"backends.b.azure.auth", "shared_key", "azure_ad"}},
		{"an azure_ad backend with an account key", "backends:\n  b:\n    driver: azure\n    azure: {account: a, container: files, auth: azure_ad, account_key_env: K}\n", []string{"backends.b.azure.account_key", "no account key"}},
		{"an azure_ad backend over http", "backends:\n  b:\n    driver: azure\n    azure: {account: a, container: files, auth: azure_ad, endpoint: \"http://127.0.0.1:10000/a\"}\n", []string{"backends.b.azure.endpoint", "https"}},
		{"an azure_ad backend's category living longer than its delegation key", "backends:\n  b:\n    driver: azure\n    azure: {account: a, container: files, auth: azure_ad}\ncategories:\n  docs: {url_ttl: 167h, max_download_ttl: 168h}\n", []string{"categories.docs.url_ttl", "categories.docs.max_download_ttl", "166h"}},
		{"postgres without uri", "store:\n  driver: postgres\n", []string{"store.postgres.uri"}},
		{"a short secret", "secret: short\n", []string{"secret"}},
		{"a negative sweeper interval", "sweeper:\n  interval: -1s\n", []string{"sweeper.interval"}},
		{"an API-key cache TTL over 30s", "auth: {api_key_cache_ttl: 31s}\n", []string{"auth.api_key_cache_ttl"}},
		{"a sweeper batch too large", "sweeper:\n  batch_size: 100000\n", []string{"sweeper.batch_size"}},
		{"a max size over 5TiB", "categories:\n  docs:\n    max_size: 6TiB\n", []string{"categories.docs.max_size", "5TiB"}},
		{"a part size under 1MiB", "categories:\n  docs:\n    multipart: {part_size: 512KiB}\n", []string{"categories.docs.multipart.part_size", "1MiB"}},
		{"a part size over 5GiB", "categories:\n  docs:\n    multipart: {part_size: 6GiB}\n", []string{"categories.docs.multipart.part_size"}},
		{"a part checksum of MD5", "categories:\n  docs:\n    multipart: {part_checksum: MD5}\n", []string{"categories.docs.multipart.part_checksum", "SHA256 or CRC32C"}},
		{"a multipart upload ttl under a minute", "categories:\n  docs:\n    multipart: {upload_ttl: 30s}\n", []string{"categories.docs.multipart.upload_ttl"}},
		{"a multipart upload ttl over 30 days", "categories:\n  docs:\n    multipart: {upload_ttl: 721h}\n", []string{"categories.docs.multipart.upload_ttl"}},
		{"a multipart threshold that is not a size", "categories:\n  docs:\n    multipart: {threshold: big}\n", []string{"line 3", "not a size"}},
		{"an unknown multipart key", "categories:\n  docs:\n    multipart: {part_sise: 8MiB}\n", []string{"line 3", "part_size"}},
		{"several problems at once", "log: {format: xml}\ncategories:\n  docs:\n    method: GET\n", []string{"log.format", "categories.docs.method"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

func TestParseSweeper(t *testing.T) {
	tests := []struct {
		name                        string
		yaml                        string
		interval, grace, checkEvery time.Duration
		batch                       int
	}{
		{"defaults", "", time.Minute, time.Minute, 24 * time.Hour, 100},
		{"a zero interval disables it and stays zero", "sweeper: {interval: 0s}\n", 0, time.Minute, 24 * time.Hour, 100},
		{"every key set", "sweeper: {interval: 500ms, batch_size: 7, grace: 0s, check_every: 1h}\n", 500 * time.Millisecond, 0, time.Hour, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			s := c.Sweeper
			if time.Duration(*s.Interval) != tt.interval || time.Duration(*s.Grace) != tt.grace ||
				time.Duration(*s.CheckEvery) != tt.checkEvery || s.BatchSize != tt.batch {
				t.Fatalf("sweeper = interval %s grace %s check_every %s batch %d", time.Duration(*s.Interval),
					time.Duration(*s.Grace), time.Duration(*s.CheckEvery), s.BatchSize)
			}
		})
	}
}

// TestParseAPIKeyCacheTTL: API keys are cached by default, for the
// documented revocation delay; 0 turns the cache off.
func TestParseAPIKeyCacheTTL(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want time.Duration
	}{
		{"unset caches for the default revocation delay", "", DefaultAPIKeyCacheTTL},
		{"zero turns the cache off and stays zero", "auth: {api_key_cache_ttl: 0s}\n", 0},
		{"a value is kept", "auth: {api_key_cache_ttl: 2s}\n", 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if got := time.Duration(*c.Auth.APIKeyCacheTTL); got != tt.want {
				t.Fatalf("api_key_cache_ttl = %s, want %s", got, tt.want)
			}
		})
	}
	if DefaultAPIKeyCacheTTL <= 0 || DefaultAPIKeyCacheTTL > 5*time.Second {
		t.Errorf("DefaultAPIKeyCacheTTL = %s: the README promises revocation within 5s, with the cache on", DefaultAPIKeyCacheTTL)
	}
}

func TestParseByteSize(t *testing.T) {
	tests := map[string]ByteSize{"0": 0, "100": 100, "100B": 100, "10MB": 10_000_000, "10MiB": 10 << 20, "5GiB": 5 << 30, " 1 KiB ": 1024}
	for in, want := range tests {
		if got, err := ParseByteSize(in); err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1.5MB", "10 mb", "99999999999999999999", "9999999999TiB"} {
		if _, err := ParseByteSize(in); err == nil {
			t.Errorf("ParseByteSize(%q) succeeded", in)
		}
	}
}

// TestExamplesAreValid loads every example configuration.
func TestExamplesAreValid(t *testing.T) {
	paths, _ := filepath.Glob("../examples/*/config.yaml")
	if len(paths) == 0 {
		t.Fatal("no examples/*/config.yaml found: the test would check nothing")
	}
	for _, p := range paths {
		t.Run(filepath.Base(filepath.Dir(p)), func(t *testing.T) {
			c, err := Load(p)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Policies(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	paths, _ := filepath.Glob("../examples/*/config.yaml")
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("categories:\n  docs:\n    max_size: 10MB\n    name_rules: {min_length: 4, pattern: '^a+$'}\n"))
	f.Add([]byte("backends: {b: {driver: s3, s3: {bucket: x}}}\ncategories: {c: {backend: b, scope: owner.app}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			return
		}
		// A configuration that parses must produce policies.
		if _, err := c.Policies(); err != nil {
			t.Fatalf("valid config failed to build policies: %v", err)
		}
	})
}

func TestBuildReportsEveryProblemWithLinesAndSuggestions(t *testing.T) {
	file := writeFile(t, `http_addr: ":8080"
log:
  levle: debug
categories:
  docs:
    methd: PUT
    max_size: ten
    url_ttl: 200h
    unique_names: maybe
    name_rules: {min_length: many}
backends:
  files:
    driver: ftp
    s3: {buckett: x}
`)
	_, err := Build(Sources{File: file, LookupEnv: envOf(map[string]string{"PRESIGND_LOG_FORMAT": "xml"})})
	var probs Problems
	if !errors.As(err, &probs) {
		t.Fatalf("Build: %v, want Problems", err)
	}
	want := []string{
		`line 3: log.levle: unknown key; did you mean "level"?`,
		`line 6: categories.docs.methd: unknown key; did you mean "method"?`,
		`line 7: categories.docs.max_size: "ten" is not a size`,
		`line 8: categories.docs.url_ttl: must be between 1s and 168h, not 200h0m0s`,
		`line 9: categories.docs.unique_names: "maybe" is not true or false`,
		`line 10: categories.docs.name_rules.min_length: "many" is not a whole number`,
		`line 13: backends.files.driver: must be local, s3, gcs or azure, not "ftp"`,
		`line 14: backends.files.s3.buckett: unknown key; did you mean "bucket"?`,
		`log.format (PRESIGND_LOG_FORMAT): must be text or json, not "xml"`,
	}
	msg := err.Error()
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("error lacks %q:\n%s", w, msg)
		}
	}
	if len(probs) != len(want) {
		t.Errorf("%d problems, want %d:\n%s", len(probs), len(want), msg)
	}
	if strings.Contains(msg, "config.") || strings.Contains(msg, "not found in type") {
		t.Errorf("error shows Go type names:\n%s", msg)
	}
}

func TestUnknownKeyWithoutACloseMatchListsTheKnownKeys(t *testing.T) {
	_, err := Parse([]byte("store:\n  flavour: x\n"))
	if err == nil || !strings.Contains(err.Error(), "line 2: store.flavour: unknown key; store takes driver, sqlite, postgres") {
		t.Fatalf("Parse: %v", err)
	}
}

func TestAzureAccountKeyFrom(t *testing.T) {
	env := func(vars map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	}
	cases := []struct {
		name    string
		azure   Azure
		vars    map[string]string
		want    string
		wantErr string
	}{
		{"account_key is used as written", Azure{AccountKey: "a2V5"}, nil, "a2V5", ""},
		{"account_key_env reads the variable", Azure{AccountKeyEnv: "AZ_KEY"}, map[string]string{"AZ_KEY": "c2VjcmV0"}, "c2VjcmV0", ""},
		{"an unset variable is an error naming it", Azure{AccountKeyEnv: "AZ_KEY"}, nil, "", "AZ_KEY"},
		{"an empty variable is an error naming it", Azure{AccountKeyEnv: "AZ_KEY"}, map[string]string{"AZ_KEY": ""}, "", "AZ_KEY"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.azure.AccountKeyFrom(env(tc.vars))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("AccountKeyFrom: (%q, %v), want an error naming %s", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("AccountKeyFrom = (%q, %v), want %q", got, err, tc.want)
			}
		})
	}
}

func TestContentAndLifetimeKeysReachThePolicy(t *testing.T) {
	c, err := Parse([]byte("categories:\n  docs:\n    require_checksum: SHA256\n    deduplicate: true\n    retention: 720h\n    max_download_ttl: 24h\n"))
	if err != nil {
		t.Fatal(err)
	}
	cats, err := c.Policies()
	if err != nil {
		t.Fatal(err)
	}
	d := cats["docs"]
	if !d.Deduplicate || d.Retention != 720*time.Hour || d.MaxDownloadTTL != 24*time.Hour || d.DownloadTTLLimit() != 24*time.Hour {
		t.Fatalf("docs = deduplicate %v, retention %s, max download TTL %s", d.Deduplicate, d.Retention, d.MaxDownloadTTL)
	}
	c, err = Parse([]byte("categories:\n  docs:\n    owner_headers: {business_id: X-BUSINESS-ID}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cats, err = c.Policies(); err != nil || cats["docs"].OwnerHeaders["business_id"] != "X-Business-Id" {
		t.Errorf("owner_headers = %v, %v; want the canonical X-Business-Id", cats["docs"].OwnerHeaders, err)
	}
	if got := cats["default"]; got != nil && got.DownloadTTLLimit() != got.URLTTL {
		t.Errorf("default download TTL limit %s, want its url_ttl %s", got.DownloadTTLLimit(), got.URLTTL)
	}
}

func TestBodylessTargetAcceptsBackendsThatBindTheLimit(t *testing.T) {
	tests := []struct {
		name string
		yaml string
	}{
		{"a local PUT", "categories:\n  docs:\n    bodyless_target: true\n    content_types: [application/pdf]\n    max_size: 10MiB\n"},
		{"a GCS PUT", "backends:\n  b:\n    driver: gcs\n    gcs: {bucket: x}\ncategories:\n  docs:\n    bodyless_target: true\n    content_types: [application/pdf]\n    max_size: 10MiB\n"},
		{"an S3 POST", "backends:\n  b:\n    driver: s3\n    s3: {bucket: x}\ncategories:\n  docs:\n    bodyless_target: true\n    content_types: [application/pdf]\n    method: POST\n    max_size: 10MiB\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			cats, err := c.Policies()
			if err != nil {
				t.Fatal(err)
			}
			if !cats["docs"].BodylessTarget {
				t.Fatal("docs.BodylessTarget is false")
			}
		})
	}
}

func TestParseAzureAD(t *testing.T) {
	c, err := Parse([]byte("backends:\n  b:\n    driver: azure\n    azure: {account: a, container: files, auth: azure_ad, endpoint: \"https://a.blob.core.windows.net\"}\ncategories:\n  docs: {url_ttl: 166h, max_download_ttl: 166h}\n"))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if a := c.Backends["b"].Azure; !a.UsesAzureAD() || a.AccountKey != "" || a.AccountKeyEnv != "" {
		t.Errorf("backend b: %+v, want auth azure_ad with no key", a)
	}
	c, err = Parse([]byte("backends:\n  b:\n    driver: azure\n    azure: {account: a, container: files, auth: shared_key, account_key_env: K}\n"))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if c.Backends["b"].Azure.UsesAzureAD() {
		t.Error("auth shared_key uses Azure AD")
	}
}
