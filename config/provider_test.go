package config

import (
	"strings"
	"testing"
)

func TestProviderPresets(t *testing.T) {
	backend := func(s3 string) string {
		return "backends:\n  store:\n    driver: s3\n    s3: {bucket: b" + s3 + "}\n"
	}
	category := func(method, checksum string) string {
		s := "categories:\n  docs:\n    method: " + method + "\n"
		if checksum != "" {
			s += "    require_checksum: " + checksum + "\n"
		}
		return s
	}
	tests := []struct {
		name string
		yaml string
		// want is a fragment of the one problem; empty means valid.
		want string
	}{
		{"an S3 backend without a provider is aws and takes POST", backend("") + category("POST", "SHA256"), ""},
		{"minio takes POST and SHA256", backend(", provider: minio, endpoint: 'http://127.0.0.1:9000'") + category("POST", "SHA256"), ""},
		{"a POST category on r2 is refused with the reason", backend(", provider: r2, endpoint: 'https://acct.r2.cloudflarestorage.com'") + category("POST", ""),
			"categories.docs.method: POST cannot work on backend \"store\" (provider r2): Cloudflare R2 does not implement PostObject"},
		{"a POST category on b2 is refused with the reason", backend(", provider: b2, endpoint: 'https://s3.us-east-005.backblazeb2.com'") + category("POST", ""),
			"Backblaze B2's S3-compatible API does not implement PostObject"},
		{"wasabi takes POST", backend(", provider: wasabi, endpoint: 'https://s3.wasabisys.com'") + category("POST", "MD5"), ""},
		{"a SHA256 checksum on r2 is refused", backend(", provider: r2, endpoint: 'https://acct.r2.cloudflarestorage.com'") + category("PUT", "SHA256"),
			"categories.docs.require_checksum: SHA256 cannot be bound on backend \"store\" (provider r2 binds MD5)"},
		{"r2 refuses a region other than auto", backend(", provider: r2, region: eu-west-1, endpoint: 'https://acct.r2.cloudflarestorage.com'") + category("PUT", ""),
			`backends.store.s3.region: must be "auto" with provider r2`},
		{"r2 takes us-east-1, an alias of auto", backend(", provider: r2, region: us-east-1, endpoint: 'https://acct.r2.cloudflarestorage.com'") + category("PUT", ""), ""},
		{"a provider other than aws needs an endpoint", backend(", provider: b2") + category("PUT", ""), "backends.store.s3.endpoint: is required with provider b2"},
		{"an unknown provider is refused, naming the presets", backend(", provider: s4") + category("PUT", ""), "must be one of aws, b2, minio, r2, wasabi"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && err == nil:
				t.Fatalf("accepted, want a problem with %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("problem %q does not say %q", err, tt.want)
			}
		})
	}
}

func TestAzureCategories(t *testing.T) {
	const backend = "backends:\n  blobs:\n    driver: azure\n    azure: {account: acct, container: files, account_key: a2V5}\n"
	tests := []struct {
		name, category, want string
	}{
		{"PUT with an MD5 and multipart is valid", "method: PUT, require_checksum: MD5, multipart: {threshold: 64MiB}", ""},
		{"POST is refused with the reason", "method: POST", `categories.docs.method: POST cannot work on backend "blobs" (azure)`},
		{"a SHA256 checksum is refused", "method: PUT, require_checksum: SHA256", `categories.docs.require_checksum: SHA256 cannot be bound on backend "blobs" (azure binds MD5`},
		{"a part checksum is refused", "method: PUT, multipart: {part_checksum: CRC32C}", `categories.docs.multipart.part_checksum: cannot be bound on backend "blobs" (azure)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(backend + "categories:\n  docs: {" + tt.category + "}\n"))
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && err == nil:
				t.Fatalf("accepted, want a problem with %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("problem %q does not say %q", err, tt.want)
			}
		})
	}
}

func TestGCSHMACSettings(t *testing.T) {
	gcs := func(extra string) string {
		return "backends:\n  g:\n    driver: gcs\n    gcs: {bucket: b" + extra + "}\n"
	}
	tests := []struct {
		name, yaml, want string
	}{
		{"an HMAC key with its secret's variable is valid", gcs(", hmac_access_id: GOOG1X, hmac_secret_env: GCS_HMAC_SECRET, hmac_region: us-central1"), ""},
		{"an access id without a secret variable is refused", gcs(", hmac_access_id: GOOG1X"), "hmac_access_id: and hmac_secret_env go together"},
		{"a secret variable that is not a name is refused", gcs(", hmac_access_id: GOOG1X, hmac_secret_env: 'A B'"), "is not an environment variable name"},
		{"an HMAC key with a google_access_id is refused", gcs(", hmac_access_id: GOOG1X, hmac_secret_env: S, google_access_id: a@b"), "cannot be set with hmac_access_id"},
		{"a region without a key is refused", gcs(", hmac_region: auto"), "hmac_region: needs hmac_access_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && err == nil:
				t.Fatalf("accepted, want a problem with %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("problem %q does not say %q", err, tt.want)
			}
		})
	}
}

func TestBrowserOrigins(t *testing.T) {
	for _, tc := range []struct {
		origin string
		ok     bool
	}{
		{"https://app.example.com", true},
		{"http://localhost:3000", true},
		{"https://app.example.com/", false},
		{"app.example.com", false},
		{"ftp://app.example.com", false},
		{"https://app.example.com/upload", false},
	} {
		t.Run(tc.origin, func(t *testing.T) {
			_, err := Parse([]byte("browser_origins: ['" + tc.origin + "']\n"))
			if (err == nil) != tc.ok {
				t.Fatalf("Parse: %v, want ok %v", err, tc.ok)
			}
		})
	}
}
