package server

import (
	"net/http"
	"strings"
)

// indexJSON and indexHTML answer GET / : where the upload page, the API
// docs and the API are.
const (
	indexJSON = `{"service":"presignd","links":{"upload_page":"/ui/","api_docs":"/docs","openapi":"/openapi.json","rest_api":"/v1/","health":"/healthz","ready":"/readyz"}}
`
	indexHTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>presignd</title></head>
<body>
<h1>presignd</h1>
<p>presignd hands out presigned upload and download URLs and keeps the file records.</p>
<ul>
<li><a href="/ui/">Upload page</a>: upload a file from this browser with an API key.</li>
<li><a href="/docs">API documentation</a> (<a href="/openapi.json">OpenAPI document</a>); the REST API is under /v1/.</li>
<li><a href="/healthz">/healthz</a> and <a href="/readyz">/readyz</a>: health.</li>
</ul>
</body></html>
`
)

// serveIndex answers GET / with links to the upload page, the API docs and
// the API: an HTML page for browsers, JSON for everything else.
func serveIndex(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-cache")
	if strings.Contains(r.Header.Get("Accept"), "text/html") {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'")
		_, _ = w.Write([]byte(indexHTML))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(indexJSON))
}
