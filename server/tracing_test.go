package server

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/presignd/presignd/store"
	"github.com/presignd/presignd/store/sqlite"
	"github.com/presignd/presignd/telemetry"
)

// traceRecordingStore records the trace id of the contexts GetFile is
// called with.
type traceRecordingStore struct {
	*sqlite.Store
	mu     sync.Mutex
	traces []trace.TraceID
}

func (s *traceRecordingStore) GetFile(ctx context.Context, tenant, id string) (*store.File, error) {
	s.mu.Lock()
	s.traces = append(s.traces, trace.SpanContextFromContext(ctx).TraceID())
	s.mu.Unlock()
	return s.Store.GetFile(ctx, tenant, id)
}

// keepSpans keeps the exported spans past the exporter's shutdown.
type keepSpans struct{ *tracetest.InMemoryExporter }

func (keepSpans) Shutdown(context.Context) error { return nil }

// TestRESTCallsGetSpans checks that a REST call, dispatched in process
// with no gRPC stats handler on its way, gets a server span from the HTTP
// handler that continues the caller's traceparent, and that the handler
// below the interceptor chain runs in that trace.
func TestRESTCallsGetSpans(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tr := telemetry.New(keepSpans{exp}, telemetry.Config{ServiceName: "presignd-test"})
	defer tr.Shutdown(context.Background())
	var st *traceRecordingStore
	served := make(chan struct{}, 1) // the traced handler returned: its span ended
	env := newTestEnvWith(t, envOptions{
		wrapGateway: func(h http.Handler) http.Handler {
			traced := tr.HTTPHandler(h, "rest")
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				traced.ServeHTTP(w, r)
				served <- struct{}{}
			})
		},
		wrapStore: func(s *sqlite.Store) store.Store {
			st = &traceRecordingStore{Store: s}
			return st
		},
	})
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	code, body := restCall(t, env, "GET", "/v1/files/missing", "", map[string]string{
		"Authorization": "Bearer " + env.keys["acme"],
		"Traceparent":   "00-" + traceID + "-00f067aa0ba902b7-01",
	})
	if code != http.StatusNotFound {
		t.Fatalf("GET: %d %s", code, body)
	}
	select {
	case <-served:
	case <-time.After(10 * time.Second):
		t.Fatal("the traced handler did not return")
	}
	if err := tr.Shutdown(context.Background()); err != nil { // flushes
		t.Fatal(err)
	}
	spans := exp.GetSpans()
	if len(spans) != 1 || spans[0].SpanKind != trace.SpanKindServer || spans[0].SpanContext.TraceID().String() != traceID {
		t.Fatalf("spans %+v, want one server span in trace %s", spans, traceID)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.traces) != 1 || st.traces[0].String() != traceID {
		t.Errorf("the handler ran in traces %v, want %s", st.traces, traceID)
	}
}
