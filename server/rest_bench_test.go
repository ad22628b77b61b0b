package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/presignd/presignd/store/sqlite"
)

// BenchmarkRESTEcho measures GET /v1/health through the REST gateway and
// the whole interceptor chain, in process (no socket), with what the
// server runs by default: Prometheus metrics and an access log line at
// info. Compare with BenchmarkGoJSONHandler, the plain net/http JSON
// handler the goal is stated against:
//
//	go test ./server -run '^$' -bench 'RESTEcho|GoJSONHandler|RESTCreateUpload' -benchmem
func BenchmarkRESTEcho(b *testing.B) {
	st, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(b.TempDir(), "presignd.db")})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	metrics, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	var lines countingWriter
	s, err := New(Config{Store: st, Secret: testSecret, Metrics: metrics,
		Logger: slog.New(NewLogHandler(slog.NewTextHandler(&lines, nil)))})
	if err != nil {
		b.Fatal(err)
	}
	g, err := NewGRPCServer(s)
	if err != nil {
		b.Fatal(err)
	}
	defer g.Stop()
	gw, err := NewGateway(context.Background(), s, GatewayConfig{})
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/v1/health", nil)
	req.RemoteAddr = "203.0.113.7:4000"
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		gw.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
	if lines.lines == 0 {
		b.Fatal("no access log line written")
	}
}

// BenchmarkGoJSONHandler is the plain net/http JSON handler of the peer
// bench (bench/peer), served the same way as BenchmarkRESTEcho.
func BenchmarkGoJSONHandler(b *testing.B) {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprint(w, `{"status":"SERVING"}`+"\n")
	})
	req := httptest.NewRequest(http.MethodGet, "/v1/health", nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
	}
}

// BenchmarkRESTCreateUpload measures POST /v1/uploads through the REST
// gateway in process: the chain (API-key lookup, protovalidate), policy,
// key rendering, local signing and the SQLite insert, with metrics and an
// access log line at info.
func BenchmarkRESTCreateUpload(b *testing.B) {
	metrics, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	var lines countingWriter
	var gw http.Handler
	env := newTestEnvWith(b, envOptions{
		metrics:     metrics,
		logger:      slog.New(NewLogHandler(slog.NewTextHandler(&lines, nil))),
		wrapGateway: func(h http.Handler) http.Handler { gw = h; return h },
	})
	auth := "Bearer " + env.keys["acme"]
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		body := fmt.Sprintf(`{"filename": "doc-%d.pdf", "content_type": "application/pdf", "size_bytes": 654321}`, i)
		req := httptest.NewRequest(http.MethodPost, "/v1/uploads", strings.NewReader(body))
		req.Header.Set("Authorization", auth)
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		gw.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}
