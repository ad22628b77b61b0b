package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/presignd/presignd/config"
	"github.com/presignd/presignd/signer"
)

// preflightSigner signs PUT targets to one URL with the headers a
// category with require_checksum: MD5 gets.
type preflightSigner struct{ url string }

func (p preflightSigner) SignUpload(_ context.Context, req signer.UploadRequest) (signer.UploadTarget, error) {
	return signer.UploadTarget{Method: http.MethodPut, URL: p.url + "/" + req.Key,
		Headers: map[string]string{"Content-Type": req.ContentType, "Content-MD5": req.Checksum.Value}}, nil
}
func (preflightSigner) SignDownload(context.Context, signer.DownloadRequest) (string, error) {
	return "", signer.ErrUnsupported
}
func (preflightSigner) Stat(context.Context, string) (signer.ObjectInfo, error) {
	return signer.ObjectInfo{}, signer.ErrNotFound
}
func (preflightSigner) Delete(context.Context, string) error { return nil }
func (preflightSigner) StorageURI(key string) string         { return "test://" + key }

// rulelessChecker is a backend without a per-bucket CORS API.
type rulelessChecker struct{}

func (rulelessChecker) Probe(context.Context) (signer.Probe, error) { return signer.Probe{}, nil }
func (rulelessChecker) CORS(context.Context) ([]signer.CORSRule, error) {
	return nil, fmt.Errorf("get bucket CORS: %w: NotImplemented", signer.ErrUnsupported)
}

// TestCORSPreflightFallback: on a backend without CORS rules to read,
// doctor asks what a browser asks, and judges the answer as a browser
// does.
func TestCORSPreflightFallback(t *testing.T) {
	allow := func(origin, methods, headers string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if origin != "" {
				w.Header().Set("Access-Control-Allow-Origin", origin)
			}
			if methods != "" {
				w.Header().Set("Access-Control-Allow-Methods", methods)
			}
			if headers != "" {
				w.Header().Set("Access-Control-Allow-Headers", headers)
			}
		}
	}
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    string // a fragment of the one CORS line
		pass    bool
	}{
		{"every origin, method and header (as MinIO answers by default)", allow("*", "GET,PUT,POST,DELETE", "*"),
			"origin https://app.example may PUT with Content-Md5, Content-Type (the answer to a browser's preflight allows it", true},
		{"the origin itself, PUT and both headers, in any case", allow("https://app.example", "PUT", "content-type, CONTENT-MD5"),
			"origin https://app.example may PUT", true},
		{"no Access-Control-Allow-Origin", allow("", "PUT", "*"), "allows no origin (no Access-Control-Allow-Origin)", false},
		{"another origin", allow("https://other.example", "PUT", "*"), "allows origin https://other.example, not https://app.example", false},
		{"no PUT", allow("*", "GET, POST", "*"), "does not allow method PUT (Access-Control-Allow-Methods: GET, POST)", false},
		{"a signed header left out", allow("*", "PUT", "content-type"), "does not allow headers Content-Md5", false},
		{"a refusal", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusForbidden) }, "is status 403, not 2xx", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var asked http.Header
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodOptions {
					t.Errorf("doctor sent %s, want OPTIONS", r.Method)
				}
				asked = r.Header.Clone()
				tt.handler(w, r)
			}))
			defer srv.Close()
			cfg, err := config.Parse([]byte("browser_origins: [https://app.example]\nbackends:\n  store: {driver: local}\n" +
				"categories:\n  docs: {backend: store, require_checksum: MD5}\n"))
			if err != nil {
				t.Fatal(err)
			}
			out := corsChecks(t.Context(), cfg, "store", preflightSigner{url: srv.URL}, rulelessChecker{})
			if len(out) != 1 {
				t.Fatalf("corsChecks = %+v, want one CORS result", out)
			}
			if r := out[0]; !strings.Contains(r.detail, tt.want) || (r.status == "PASS") != tt.pass {
				t.Errorf("CORS result %s %q, want it to say %q and pass %v", r.status, r.detail, tt.want, tt.pass)
			}
			if got := asked.Get("Origin"); got != "https://app.example" {
				t.Errorf("preflight Origin = %q", got)
			}
			if got := asked.Get("Access-Control-Request-Method"); got != "PUT" {
				t.Errorf("preflight Access-Control-Request-Method = %q", got)
			}
			if got := asked.Get("Access-Control-Request-Headers"); got != "content-md5,content-type" {
				t.Errorf("preflight Access-Control-Request-Headers = %q", got)
			}
		})
	}
}
