package server

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// accessLogMessage is the message of every access log line.
const accessLogMessage = "finished call"

// callLog is the context of a call below the access log interceptor: it
// carries the fields that inner interceptors learn (the caller's tenant
// and credential kind) to the call's log line. Being the context itself,
// it costs the call one allocation.
type callLog struct {
	context.Context
	tenant, credential string
}

type callLogKey struct{}

func (c *callLog) Value(key any) any {
	if key == (callLogKey{}) {
		return c
	}
	return c.Context.Value(key)
}

// logCaller records the caller's tenant and credential kind for the
// access log line of the call of ctx, when there is one.
func logCaller(ctx context.Context, tenant, credential string) {
	if c, ok := ctx.Value(callLogKey{}).(*callLog); ok {
		c.tenant, c.credential = tenant, credential
	}
}

// accessLog writes one line per call, "finished call", with the gRPC
// service, method and code, the duration in milliseconds, the peer, the
// tenant and credential kind once authenticated, the error's message on
// failure, and (from the log handler) the request id. Never payloads, so
// signed URLs stay out of the logs. OK and the caller's own errors
// (NotFound, InvalidArgument, Unauthenticated, ...) are logged at info,
// refusals and unavailability at warn, and server faults at error. A line
// whose level is off costs no formatting.
func (s *Server) accessLog(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	call := &callLog{Context: ctx}
	resp, err := handler(call, req)
	code := codes.OK
	if err != nil {
		code = status.Code(err)
	}
	level := accessLogLevel(code)
	if !s.log.Enabled(ctx, level) {
		return resp, err
	}
	service, method := "", info.FullMethod
	if i := strings.LastIndexByte(info.FullMethod, '/'); i > 0 {
		service, method = info.FullMethod[1:i], info.FullMethod[i+1:]
	}
	attrs := make([]slog.Attr, 0, 8)
	attrs = append(attrs,
		slog.String("grpc.service", service),
		slog.String("grpc.method", method),
		slog.String("grpc.code", code.String()),
		slog.Float64("grpc.time_ms", float64(time.Since(start).Microseconds())/1000),
	)
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		attrs = append(attrs, slog.String("peer.address", p.Addr.String()))
	}
	if call.tenant != "" {
		attrs = append(attrs, slog.String("tenant", call.tenant), slog.String("credential", call.credential))
	}
	if err != nil {
		attrs = append(attrs, slog.String("grpc.error", err.Error()))
	}
	s.log.LogAttrs(ctx, level, accessLogMessage, attrs...)
	return resp, err
}

// accessLogLevel is the level of a call's access log line by its code.
func accessLogLevel(code codes.Code) slog.Level {
	switch code {
	case codes.OK, codes.NotFound, codes.Canceled, codes.AlreadyExists, codes.InvalidArgument, codes.Unauthenticated:
		return slog.LevelInfo
	case codes.DeadlineExceeded, codes.PermissionDenied, codes.ResourceExhausted, codes.FailedPrecondition, codes.Aborted,
		codes.OutOfRange, codes.Unavailable:
		return slog.LevelWarn
	default:
		return slog.LevelError
	}
}
