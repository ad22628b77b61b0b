package server

import (
	"context"
	"fmt"
	"runtime/debug"

	"buf.build/go/protovalidate"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	presigndv1 "github.com/presignd/presignd/gen/presignd/v1"
)

// newInterceptor returns the one unary interceptor chain of s, which every
// call passes whether it arrives over gRPC (NewGRPCServer) or REST
// (NewGateway, in process). In order: metrics (count and handling time by
// method and code, when s has Metrics), the request id (the caller's
// x-request-id or a new one, returned as a response header), the access
// log (method, code, duration, peer, request id; never payloads, so
// signed URLs stay out of the logs), panic recovery (Internal, logged with
// the stack and the request id, and counted and logged as any other
// Internal), error-to-status mapping,
// authentication and authorization (scope, category limits, rate limits;
// presignd's services only), the announcement of admitted CreateUploads
// to a store that groups its commits (anticipateCreates), and request
// validation.
func newInterceptor(s *Server) (grpc.UnaryServerInterceptor, error) {
	validator, err := protovalidate.New()
	if err != nil {
		return nil, fmt.Errorf("protovalidate: %w", err)
	}
	chain := []grpc.UnaryServerInterceptor{
		s.metrics.unaryInterceptor(),
		requestIDInterceptor,
		s.accessLog,
		recovery.UnaryServerInterceptor(recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
			s.log.ErrorContext(ctx, "panic in handler", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			return status.Error(codes.Internal, "internal error")
		})),
		s.statusInterceptor,
		s.authInterceptor,
	}
	if a := s.storeCaps.Anticipator; a != nil {
		chain = append(chain, anticipateCreates(a))
	}
	chain = append(chain, validationInterceptor(validator))
	return chainUnary(chain), nil
}

// chainUnary returns one interceptor that runs interceptors in order, the
// first outermost, as grpc.ChainUnaryInterceptor does, at two allocations
// a call whatever the chain's length. Each interceptor calls its handler
// at most once (none of presignd's retries its handler).
func chainUnary(interceptors []grpc.UnaryServerInterceptor) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		c := &chainedCall{interceptors: interceptors, info: info, final: handler}
		c.handler = c.next
		return c.next(ctx, req)
	}
}

// chainedCall is one call's progress through the chain.
type chainedCall struct {
	interceptors []grpc.UnaryServerInterceptor
	info         *grpc.UnaryServerInfo
	final        grpc.UnaryHandler
	handler      grpc.UnaryHandler // next, bound once
	cur          int
}

// next runs the next interceptor, or the final handler after the last.
func (c *chainedCall) next(ctx context.Context, req any) (any, error) {
	if c.cur == len(c.interceptors) {
		return c.final(ctx, req)
	}
	i := c.cur
	c.cur++
	return c.interceptors[i](ctx, req, c.info, c.handler)
}

// newHealthServer returns the health service, with presignd's services
// SERVING.
func newHealthServer() *health.Server {
	hs := health.NewServer()
	hs.SetServingStatus(presigndv1.FileService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus(presigndv1.AdminService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	return hs
}

// streamWorkers is how many long-lived goroutines run gRPC calls. Without
// them every call starts on a new goroutine, whose small stack the chain
// (protovalidate above all) outgrows: copying the stack as it grows cost
// about a sixth of the server's CPU per call under 64 concurrent calls. A
// worker keeps its grown stack from call to call. When every worker is
// busy a call still starts at once, on a new goroutine; so the count only
// bounds the goroutines kept, and covers the 64 concurrent calls measured
// in bench/.
const streamWorkers = 64

// NewGRPCServer returns a gRPC server serving s (FileService and
// AdminService), the gRPC health service and server reflection. Every call
// passes s's interceptor chain (see newInterceptor), the same that REST
// calls pass in NewGateway. Calls run on streamWorkers worker goroutines.
// opts add server options, such as a stats handler for tracing.
func NewGRPCServer(s *Server, opts ...grpc.ServerOption) (*grpc.Server, error) {
	g := grpc.NewServer(append(opts, grpc.UnaryInterceptor(s.interceptor), grpc.NumStreamWorkers(streamWorkers))...)
	presigndv1.RegisterFileServiceServer(g, s)
	presigndv1.RegisterAdminServiceServer(g, &adminServer{s: s})
	healthpb.RegisterHealthServer(g, s.health)
	reflection.Register(g)
	s.metrics.initialize(g)
	return g, nil
}

// statusInterceptor maps every error below it to a gRPC status, in one place.
func (s *Server) statusInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	resp, err := handler(ctx, req)
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	return resp, nil
}

// validationInterceptor applies the protovalidate rules of the request.
func validationInterceptor(v protovalidate.Validator) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if msg, ok := req.(proto.Message); ok {
			if err := v.Validate(msg); err != nil {
				return nil, err
			}
		}
		return handler(ctx, req)
	}
}
