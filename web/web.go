// Package web serves presignd's browser upload page: a static page that
// uses the REST API on its own origin and sends the bytes straight to the
// upload target, exactly as a browser must (CORS requests, a multipart form
// POST for POST-policy targets, and part PUTs for multipart uploads). The
// uploading is Uppy's, bundled into static/uppy/ by build.sh from the
// packages package-lock.json pins; static/app.js points it at the REST API.
package web

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed static
var static embed.FS

// Prefix is the path Handler expects to be mounted at.
const Prefix = "/ui/"

// contentSecurityPolicy lets the page load only its own files and talk to
// its own origin, plus the storage origins its upload and download targets
// name (any http or https origin: the backend decides). Images may also be
// blob: URLs, the thumbnails Uppy's Dashboard makes of picked images.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
	"connect-src 'self' http: https:; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"

// Handler serves the upload page under Prefix: GET and HEAD of the page and
// its assets; anything else under Prefix is 404 (unknown paths) or 405
// (other methods). Responses carry a strict Content-Security-Policy and are
// never cached, so a restarted presignd serves its own page.
func Handler() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree always has static/
	}
	files := http.StripPrefix(strings.TrimSuffix(Prefix, "/"), http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
