package telemetry

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/presignd/presignd/internal/testenv"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func noEnv(string) string { return "" }

func TestSetupIsOffWithoutAnEndpoint(t *testing.T) {
	tr, err := Setup(context.Background(), Config{}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Enabled() {
		t.Fatal("tracing is on with no endpoint configured")
	}
	if tr.ServerOptions() != nil || tr.DialOptions() != nil {
		t.Error("tracing off still instruments gRPC")
	}
	h := http.NotFoundHandler()
	if got := tr.HTTPHandler(h, "rest"); got == nil {
		t.Error("HTTPHandler returned nil")
	}
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
}

func TestSetupIsOnWithAnEndpoint(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		env  map[string]string
	}{
		{"host and port from the config", Config{Endpoint: "127.0.0.1:4317", Insecure: true}, nil},
		{"a URL from the config", Config{Endpoint: "http://127.0.0.1:4317"}, nil},
		{"the standard variable", Config{}, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317"}},
		{"the traces variable", Config{}, map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4317"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			tr, err := Setup(context.Background(), c.cfg, func(k string) string { return c.env[k] })
			if err != nil {
				t.Fatal(err)
			}
			if !tr.Enabled() {
				t.Fatal("tracing is off with an endpoint configured")
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_ = tr.Shutdown(ctx) // nothing listens there; shutting down must still return
		})
	}
}

func TestEnabledTracingRecordsServerAndClientSpans(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tr := New(exp, Config{ServiceName: "presignd-test"})
	g := grpc.NewServer(tr.ServerOptions()...)
	healthpb.RegisterHealthServer(g, health.NewServer())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go g.Serve(ln)
	defer g.Stop()
	conn, err := grpc.NewClient(ln.Addr().String(), append(tr.DialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	// A REST request through the wrapped handler that calls gRPC.
	rest := tr.HTTPHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := healthpb.NewHealthClient(conn).Check(r.Context(), &healthpb.HealthCheckRequest{}); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	}), "rest")
	srv := httptest.NewServer(rest)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/v1/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	// The gRPC server span ends after its response is on the wire, so it
	// may reach the exporter after the client has its answer.
	var spans tracetest.SpanStubs
	testenv.WaitFor(t, "the three spans", func() bool {
		if err := tr.provider.ForceFlush(context.Background()); err != nil {
			t.Fatal(err)
		}
		spans = exp.GetSpans()
		return len(spans) >= 3
	})
	kinds := map[string]int{}
	traces := map[string]bool{}
	for _, s := range spans {
		kinds[s.SpanKind.String()]++
		traces[s.SpanContext.TraceID().String()] = true
		if got := s.Resource.Attributes(); len(got) == 0 || got[0].Value.AsString() != "presignd-test" {
			t.Errorf("span %q has resource %v", s.Name, got)
		}
	}
	if kinds["server"] != 2 || kinds["client"] != 1 {
		t.Errorf("spans by kind = %v, want 2 server (HTTP, gRPC) and 1 client", kinds)
	}
	if len(traces) != 1 {
		t.Errorf("the HTTP, client and server spans are in %d traces, want 1", len(traces))
	}
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
}
