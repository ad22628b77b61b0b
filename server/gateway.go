package server

import (
	"context"
	"fmt"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"

	presigndv1 "github.com/presignd/presignd/gen/presignd/v1"
)

// NewGateway returns the REST facade: every FileService and AdminService
// RPC under /v1/ as JSON with the proto field names, forwarded to the gRPC
// server over conn so that REST and gRPC pass the very same interceptors.
// Errors are JSON google.rpc.Status bodies with the HTTP status of their
// code (400 with field violations for bad input, 401, 403, 404, 409, 429,
// ...).
func NewGateway(ctx context.Context, conn *grpc.ClientConn) (http.Handler, error) {
	mux := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
		}),
		runtime.WithIncomingHeaderMatcher(incomingHeader),
		runtime.WithOutgoingHeaderMatcher(func(string) (string, bool) { return "", false }),
	)
	if err := presigndv1.RegisterFileServiceHandler(ctx, mux, conn); err != nil {
		return nil, fmt.Errorf("register gateway: %w", err)
	}
	if err := presigndv1.RegisterAdminServiceHandler(ctx, mux, conn); err != nil {
		return nil, fmt.Errorf("register admin gateway: %w", err)
	}
	return mux, nil
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

// HTTPConfig lists what the HTTP port serves besides the REST API.
type HTTPConfig struct {
	// Gateway serves /v1/.
	Gateway http.Handler
	// Mounts are extra handlers by path prefix, such as the local backend's
	// upload endpoint.
	Mounts map[string]http.Handler
	// Ready reports whether the service can take traffic (/readyz).
	Ready func(ctx context.Context) error
}

// NewHTTPHandler assembles the HTTP port: /v1/ (REST), the mounts,
// /healthz (process alive) and /readyz (dependencies reachable).
func NewHTTPHandler(cfg HTTPConfig) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/v1/", cfg.Gateway)
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
