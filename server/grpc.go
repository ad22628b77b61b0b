package server

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"

	"buf.build/go/protovalidate"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
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

// NewGRPCServer returns a gRPC server serving s (FileService and
// AdminService), the gRPC health service and server reflection. Every call
// passes, in order: metrics (count and handling time by method and code,
// when s has Metrics), panic recovery, the request id (the caller's
// x-request-id or a new one, returned as a response header), logging
// (method, code, duration, request id; never payloads, so signed URLs stay
// out of the logs), error-to-status mapping, authentication and
// authorization (scope, category limits, rate limits; presignd's services
// only) and request validation. A store that groups its commits is told
// of every CreateUpload as soon as it arrives (anticipateCreates). opts
// add server options, such as a stats handler for tracing.
func NewGRPCServer(s *Server, opts ...grpc.ServerOption) (*grpc.Server, error) {
	validator, err := protovalidate.New()
	if err != nil {
		return nil, fmt.Errorf("protovalidate: %w", err)
	}
	logger := logging.LoggerFunc(func(ctx context.Context, lvl logging.Level, msg string, fields ...any) {
		s.log.Log(ctx, slog.Level(lvl), msg, fields...)
	})
	if a, ok := s.store.(createAnticipator); ok {
		opts = append(opts, anticipateCreates(a))
	}
	opts = append(opts, grpc.ChainUnaryInterceptor(
		s.metrics.unaryInterceptor(),
		recovery.UnaryServerInterceptor(recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
			s.log.ErrorContext(ctx, "panic in handler", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			return status.Error(codes.Internal, "internal error")
		})),
		requestIDInterceptor,
		logging.UnaryServerInterceptor(logger, logging.WithLogOnEvents(logging.FinishCall)),
		s.statusInterceptor,
		s.authInterceptor,
		validationInterceptor(validator),
	))
	g := grpc.NewServer(opts...)
	presigndv1.RegisterFileServiceServer(g, s)
	presigndv1.RegisterAdminServiceServer(g, &adminServer{s: s})
	hs := health.NewServer()
	hs.SetServingStatus(presigndv1.FileService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus(presigndv1.AdminService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(g, hs)
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
