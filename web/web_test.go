package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle(Prefix, Handler())
	tests := []struct {
		name, method, path string
		wantStatus         int
		wantType, wantBody string
	}{
		{"the page is served at the prefix", "GET", "/ui/", 200, "text/html", `<script src="app.js"`},
		{"the script is served as JavaScript", "GET", "/ui/app.js", 200, "text/javascript", "/v1/uploads"},
		{"the script drives Uppy", "GET", "/ui/app.js", 200, "text/javascript", "/parts:sign"},
		{"the stylesheet is served as CSS", "GET", "/ui/style.css", 200, "text/css", "#status"},
		{"the page loads the Uppy bundle before its script", "GET", "/ui/", 200, "text/html", `<script src="uppy/uppy.min.js" defer></script>
<script src="app.js" defer></script>`},
		{"the Uppy bundle is served", "GET", "/ui/uppy/uppy.min.js", 200, "text/javascript", "PresigndUppy"},
		{"the Uppy styles are served", "GET", "/ui/uppy/uppy.min.css", 200, "text/css", ".uppy-Dashboard"},
		{"HEAD works like GET", "HEAD", "/ui/", 200, "text/html", ""},
		{"an unknown file is 404", "GET", "/ui/nope.js", 404, "", ""},
		{"the prefix without its slash redirects", "GET", "/ui", 307, "", ""},
		{"other methods are refused", "POST", "/ui/", 405, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			if rec.Code != tt.wantStatus {
				t.Fatalf("%s %s: status %d, want %d", tt.method, tt.path, rec.Code, tt.wantStatus)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, tt.wantType) {
				t.Errorf("Content-Type %q, want %s", ct, tt.wantType)
			}
			if !strings.Contains(rec.Body.String(), tt.wantBody) {
				t.Errorf("body lacks %q", tt.wantBody)
			}
			if tt.wantStatus == 200 {
				csp := rec.Header().Get("Content-Security-Policy")
				for _, want := range []string{"script-src 'self'", "frame-ancestors 'none'", "connect-src 'self' http: https:", "img-src 'self' data: blob:"} {
					if !strings.Contains(csp, want) {
						t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
					}
				}
				if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
					t.Error("no X-Content-Type-Options: nosniff")
				}
			}
		})
	}
}
