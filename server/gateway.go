package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	presigndv1 "github.com/presignd/presignd/gen/presignd/v1"
	"github.com/presignd/presignd/openapi"
)

// GatewayConfig configures the REST gateway.
type GatewayConfig struct {
	// TrustedProxies are the proxies whose X-Forwarded-For names the
	// client (see ParseTrustedProxies); none means the connection's
	// remote address is the client.
	TrustedProxies []netip.Prefix
}

// NewGateway returns the REST facade of s: every FileService and
// AdminService RPC under /v1/ as JSON with the proto field names,
// dispatched in process (no socket, no second encoding) through s's
// interceptor chain, the one gRPC calls pass, so REST and gRPC calls meet
// the same metrics, logging, authentication, validation and errors. The
// chain sees the call's gRPC full method, the request headers as incoming
// metadata (Authorization, X-Api-Key, X-Request-Id, ...), and the HTTP
// client as the peer (see GatewayConfig.TrustedProxies). Errors are JSON
// google.rpc.Status bodies with the HTTP status of their code (400 with
// field violations for bad input, 401, 403, 404, 409, 429 with
// Retry-After, ...). Every answer carries the call's X-Request-Id.
//
// GET /v1/health is the gRPC health service's Check (no credential; the
// optional service query parameter names a service) through the very same
// path: {"status": "SERVING"}. It is the cheapest call through the gateway
// and the REST baseline of the performance harness.
//
// Tracing: gRPC stats handlers do not run in process; wrap the returned
// handler (telemetry's HTTPHandler) for a span per REST call.
func NewGateway(ctx context.Context, s *Server, cfg GatewayConfig) (http.Handler, error) {
	mux := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, restMarshaler{&jsonMarshaler{JSONPb: runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
		}}}),
		runtime.WithIncomingHeaderMatcher(incomingHeader(ownerHeaderNames(s.categories))),
		runtime.WithOutgoingHeaderMatcher(outgoingHeader),
		runtime.WithErrorHandler(restError),
		runtime.WithRoutingErrorHandler(restRoutingError),
	)
	if err := presigndv1.RegisterFileServiceHandlerServer(ctx, mux, newInProcessFiles(s)); err != nil {
		return nil, fmt.Errorf("register gateway: %w", err)
	}
	if err := presigndv1.RegisterAdminServiceHandlerServer(ctx, mux, newInProcessAdmin(s, &adminServer{s: s})); err != nil {
		return nil, fmt.Errorf("register admin gateway: %w", err)
	}
	err := mux.HandlePath(http.MethodGet, "/v1/health", func(w http.ResponseWriter, r *http.Request, _ map[string]string) {
		_, out := runtime.MarshalerForRequest(mux, r)
		// As the generated handlers do: a transport stream takes the
		// headers and trailers the chain sets.
		var stream runtime.ServerTransportStream
		ctx := grpc.NewContextWithServerTransportStream(r.Context(), &stream)
		ctx, err := runtime.AnnotateIncomingContext(ctx, mux, r, healthpb.Health_Check_FullMethodName, runtime.WithHTTPPathPattern("/v1/health"))
		if err != nil {
			runtime.HTTPError(ctx, mux, out, w, r, err)
			return
		}
		resp, err := s.inProcessHealthCheck(ctx, &healthpb.HealthCheckRequest{Service: r.URL.Query().Get("service")})
		ctx = runtime.NewServerMetadataContext(ctx, runtime.ServerMetadata{HeaderMD: stream.Header(), TrailerMD: stream.Trailer()})
		if err != nil {
			runtime.HTTPError(ctx, mux, out, w, r, err)
			return
		}
		runtime.ForwardResponseMessage(ctx, mux, out, w, r, resp)
	})
	if err != nil {
		return nil, fmt.Errorf("register health gateway: %w", err)
	}
	trusted := slices.Clone(cfg.TrustedProxies)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		call := &gatewayCall{Context: r.Context(), header: w.Header()}
		call.peer.Addr = restClient(r, trusted)
		mux.ServeHTTP(w, r.WithContext(peer.NewContext(call, &call.peer)))
	}), nil
}

// gatewayCall is the context of a REST call below the gateway's handler: it
// carries the HTTP client as the call's peer and the response's header,
// where the chain sets headers without a detour through gRPC metadata.
// Being the context itself, and holding the peer, it costs the call the
// allocation the peer alone would.
type gatewayCall struct {
	context.Context
	peer   peer.Peer
	header http.Header
}

type gatewayCallKey struct{}

func (c *gatewayCall) Value(key any) any {
	if key == (gatewayCallKey{}) {
		return c
	}
	return c.Context.Value(key)
}

// restResponseHeader returns the HTTP response header of the REST call of
// ctx, or nil for a call that did not come through the gateway.
func restResponseHeader(ctx context.Context) http.Header {
	if c, ok := ctx.Value(gatewayCallKey{}).(*gatewayCall); ok {
		return c.header
	}
	return nil
}

// jsonMarshaler is runtime.JSONPb that marshals a message into one buffer
// of about the size of the last message of its type, where JSONPb lets
// the encoding grow from nothing by doubling and then copies it once more,
// and encodes a few answers by hand (see appendByHand).
// Everything else (non-message values, decoding) is JSONPb's.
type jsonMarshaler struct {
	runtime.JSONPb
	// lastSize maps a message descriptor to the length of the last
	// encoding of a message of its type (*atomic.Int64).
	lastSize sync.Map
}

func (j *jsonMarshaler) Marshal(v any) ([]byte, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return j.JSONPb.Marshal(v)
	}
	desc := m.ProtoReflect().Descriptor()
	last, ok := j.lastSize.Load(desc)
	if !ok {
		last, _ = j.lastSize.LoadOrStore(desc, new(atomic.Int64))
	}
	size := last.(*atomic.Int64)
	n := size.Load()
	b, ok := j.appendByHand(make([]byte, 0, n+n/4+16), m)
	if !ok {
		var err error
		if b, err = j.MarshalOptions.MarshalAppend(b[:0], m); err != nil {
			return nil, err
		}
	}
	if int64(len(b)) != n {
		size.Store(int64(len(b)))
	}
	return b, nil
}

// appendByHand appends the JSON of the messages encoded by hand (the
// answers that carry a File, see appendFile, the part targets of
// SignParts, and the health answer) when
// j's options are the gateway's, and reports whether it did.
func (j *jsonMarshaler) appendByHand(b []byte, m proto.Message) ([]byte, bool) {
	o := j.MarshalOptions
	if !o.UseProtoNames || !o.EmitUnpopulated || o.UseEnumNumbers || o.Multiline || o.Indent != "" {
		return b, false
	}
	switch m := m.(type) {
	case *presigndv1.CreateUploadResponse:
		return appendCreateUploadResponse(b, m)
	case *presigndv1.GetFileResponse:
		return appendGetFileResponse(b, m)
	case *presigndv1.SignPartsResponse:
		return appendSignPartsResponse(b, m)
	case *healthpb.HealthCheckResponse:
		return appendHealthCheckResponse(b, m)
	}
	return b, false
}

// outgoingHeader returns the request id to REST callers; no other gRPC
// metadata becomes a response header.
func outgoingHeader(key string) (string, bool) {
	if strings.EqualFold(key, RequestIDHeader) {
		return "X-Request-Id", true
	}
	return "", false
}

// incomingHeader returns the header matcher that forwards Authorization
// (the gateway's default), X-Api-Key, X-Request-Id and the headers named
// in owners (canonical names of headers categories map to owner fields)
// to gRPC metadata, in lower case.
func incomingHeader(owners map[string]bool) func(string) (string, bool) {
	return func(key string) (string, bool) {
		switch canonical := textproto.CanonicalMIMEHeaderKey(key); {
		case canonical == "X-Api-Key":
			return "x-api-key", true
		case canonical == "X-Request-Id":
			return "x-request-id", true
		case owners[canonical]:
			return strings.ToLower(canonical), true
		}
		return runtime.DefaultHeaderMatcher(key)
	}
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
	// Metrics, when set, serves /metrics (Prometheus text format).
	Metrics http.Handler
	// MaxRequestBytes caps a /v1/ request body: over it, 413 with a JSON
	// google.rpc.Status (RESOURCE_EXHAUSTED), before the body is buffered.
	// 0 caps nothing. Mounts are not capped.
	MaxRequestBytes int64
	// TransferIdleTimeout, when set, serves the mounts under idle
	// deadlines that move with the transfer's progress instead of the
	// server's read and write timeouts (see transferDeadlines).
	TransferIdleTimeout time.Duration
	// Log receives what /readyz does not tell: why a dependency is down.
	// Nil logs to slog.Default().
	Log *slog.Logger
}

// NewHTTPHandler assembles the HTTP port: / (where to go from here),
// /v1/ (REST, bodies capped at MaxRequestBytes), the mounts (streaming,
// under TransferIdleTimeout), /healthz (process alive), /readyz
// (dependencies reachable; a failure names the dependencies down, the
// details go to the log), /metrics,
// /openapi.json (the API's OpenAPI v2 document) and /docs (a page that
// renders it, with no external resources).
func NewHTTPHandler(cfg HTTPConfig) http.Handler {
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	mux := http.NewServeMux()
	mux.Handle("/v1/", limitRequestBody(cfg.MaxRequestBytes, cfg.Gateway))
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
		mux.Handle(prefix, transferDeadlines(cfg.TransferIdleTimeout, h))
	}
	mux.HandleFunc("GET /{$}", serveIndex)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if cfg.Ready != nil {
			if err := cfg.Ready(r.Context()); err != nil {
				log.WarnContext(r.Context(), "not ready", "err", err)
				msg := "not ready"
				var nr *NotReadyError
				if errors.As(err, &nr) {
					msg += ": " + nr.Public()
				}
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte(msg + "\n"))
				return
			}
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux
}
