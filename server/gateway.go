package server

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	presigndv1 "github.com/presignd/presignd/gen/presignd/v1"
	"github.com/presignd/presignd/openapi"
)

// NewGateway returns the REST facade: every FileService and AdminService
// RPC under /v1/ as JSON with the proto field names, forwarded to the gRPC
// server over conn so that REST and gRPC pass the very same interceptors.
// Errors are JSON google.rpc.Status bodies with the HTTP status of their
// code (400 with field violations for bad input, 401, 403, 404, 409, 429,
// ...). Every answer carries the call's X-Request-Id.
//
// GET /v1/health is the gRPC health service's Check (no credential; the
// optional service query parameter names a service) through the very same
// path: {"status": "SERVING"}. It is the cheapest call through the gateway
// and the REST baseline of the performance harness.
func NewGateway(ctx context.Context, conn *grpc.ClientConn) (http.Handler, error) {
	mux := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
		}),
		runtime.WithIncomingHeaderMatcher(incomingHeader),
		runtime.WithOutgoingHeaderMatcher(outgoingHeader),
		runtime.WithErrorHandler(errorWithRetryAfter),
	)
	if err := presigndv1.RegisterFileServiceHandler(ctx, mux, conn); err != nil {
		return nil, fmt.Errorf("register gateway: %w", err)
	}
	if err := presigndv1.RegisterAdminServiceHandler(ctx, mux, conn); err != nil {
		return nil, fmt.Errorf("register admin gateway: %w", err)
	}
	health := healthpb.NewHealthClient(conn)
	err := mux.HandlePath(http.MethodGet, "/v1/health", func(w http.ResponseWriter, r *http.Request, _ map[string]string) {
		_, out := runtime.MarshalerForRequest(mux, r)
		ctx, err := runtime.AnnotateContext(r.Context(), mux, r, healthpb.Health_Check_FullMethodName, runtime.WithHTTPPathPattern("/v1/health"))
		if err != nil {
			runtime.HTTPError(ctx, mux, out, w, r, err)
			return
		}
		var md runtime.ServerMetadata
		resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: r.URL.Query().Get("service")},
			grpc.Header(&md.HeaderMD), grpc.Trailer(&md.TrailerMD))
		ctx = runtime.NewServerMetadataContext(ctx, md)
		if err != nil {
			runtime.HTTPError(ctx, mux, out, w, r, err)
			return
		}
		runtime.ForwardResponseMessage(ctx, mux, out, w, r, resp)
	})
	if err != nil {
		return nil, fmt.Errorf("register health gateway: %w", err)
	}
	return mux, nil
}

// outgoingHeader returns the request id to REST callers; no other gRPC
// metadata becomes a response header.
func outgoingHeader(key string) (string, bool) {
	if strings.EqualFold(key, RequestIDHeader) {
		return "X-Request-Id", true
	}
	return "", false
}

// incomingHeader forwards Authorization (the gateway's default) and
// X-Api-Key to gRPC metadata.
func incomingHeader(key string) (string, bool) {
	switch textproto.CanonicalMIMEHeaderKey(key) {
	case "X-Api-Key":
		return "x-api-key", true
	case "X-Request-Id":
		return "x-request-id", true
	}
	return runtime.DefaultHeaderMatcher(key)
}

// errorWithRetryAfter is the gateway's default error handler plus a
// Retry-After header (whole seconds, rounded up) when the status carries a
// google.rpc.RetryInfo, as rate-limited calls do, and 409 instead of 400
// for a FailedPrecondition that carries a google.rpc.PreconditionFailure
// (the resource is not yet in the state the call needs).
func errorWithRetryAfter(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	if st, ok := status.FromError(err); ok {
		for _, d := range st.Details() {
			switch d := d.(type) {
			case *errdetails.RetryInfo:
				if d.GetRetryDelay() != nil {
					secs := int64(math.Ceil(d.GetRetryDelay().AsDuration().Seconds()))
					w.Header().Set("Retry-After", strconv.FormatInt(max(secs, 1), 10))
				}
			case *errdetails.PreconditionFailure:
				if st.Code() == codes.FailedPrecondition {
					w = statusOverride{ResponseWriter: w, status: http.StatusConflict}
				}
			}
		}
	}
	runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, err)
}

// statusOverride writes status instead of the one its user asks for.
type statusOverride struct {
	http.ResponseWriter
	status int
}

func (o statusOverride) WriteHeader(int) { o.ResponseWriter.WriteHeader(o.status) }

// HTTPConfig lists what the HTTP port serves besides the REST API.
type HTTPConfig struct {
	// Gateway serves /v1/.
	Gateway http.Handler
	// Mounts are extra handlers by path prefix, such as the local backend's
	// upload endpoint.
	Mounts map[string]http.Handler
	// Ready reports whether the service can take traffic (/readyz).
	Ready func(ctx context.Context) error
	// Metrics, when set, serves /metrics (Prometheus text format).
	Metrics http.Handler
}

// NewHTTPHandler assembles the HTTP port: /v1/ (REST), the mounts,
// /healthz (process alive), /readyz (dependencies reachable), /metrics,
// /openapi.json (the API's OpenAPI v2 document) and /docs (a page that
// renders it, with no external resources).
func NewHTTPHandler(cfg HTTPConfig) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/v1/", cfg.Gateway)
	if cfg.Metrics != nil {
		mux.Handle("GET /metrics", cfg.Metrics)
	}
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(openapi.JSON)
	})
	mux.HandleFunc("GET /docs", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'")
		_, _ = w.Write(openapi.DocsHTML)
	})
	for prefix, h := range cfg.Mounts {
		if !strings.HasSuffix(prefix, "/") {
			prefix += "/"
		}
		mux.Handle(prefix, h)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if cfg.Ready != nil {
			if err := cfg.Ready(r.Context()); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte("not ready: " + err.Error() + "\n"))
				return
			}
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux
}
