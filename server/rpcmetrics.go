package server

import (
	"context"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
)

// rpcMetrics are the RPC series of the go-grpc-middleware Prometheus
// provider, with the same names, help, labels and values:
//
//	grpc_server_started_total{grpc_type,grpc_service,grpc_method}
//	grpc_server_handled_total{grpc_type,grpc_service,grpc_method,grpc_code}
//	grpc_server_msg_received_total, grpc_server_msg_sent_total
//	grpc_server_handling_seconds (histogram)
//
// The series of every method a server serves are resolved once, in
// initialize, so a call updates them with no label lookup and no
// allocation; a method not initialized is looked up by its labels on
// every call.
type rpcMetrics struct {
	started, handled, received, sent *prometheus.CounterVec
	handling                         *prometheus.HistogramVec
	// methods maps a full method name to its series; it is replaced,
	// never changed, by initialize.
	methods atomic.Pointer[map[string]*methodSeries]
}

// methodSeries are the series of one method.
type methodSeries struct {
	started, received, sent prometheus.Counter
	handling                prometheus.Observer
	handled                 [codes.Unauthenticated + 1]prometheus.Counter
}

// rpcCodes are the codes whose handled series initialize creates: every
// code gRPC defines.
var rpcCodes = []codes.Code{
	codes.OK, codes.Canceled, codes.Unknown, codes.InvalidArgument, codes.DeadlineExceeded, codes.NotFound,
	codes.AlreadyExists, codes.PermissionDenied, codes.Unauthenticated, codes.ResourceExhausted,
	codes.FailedPrecondition, codes.Aborted, codes.OutOfRange, codes.Unimplemented, codes.Internal,
	codes.Unavailable, codes.DataLoss,
}

func newRPCMetrics(buckets []float64) *rpcMetrics {
	labels := []string{"grpc_type", "grpc_service", "grpc_method"}
	m := &rpcMetrics{
		started: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grpc_server_started_total",
			Help: "Total number of RPCs started on the server.",
		}, labels),
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grpc_server_handled_total",
			Help: "Total number of RPCs completed on the server, regardless of success or failure.",
		}, append(labels[:3:3], "grpc_code")),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grpc_server_msg_received_total",
			Help: "Total number of RPC stream messages received on the server.",
		}, labels),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grpc_server_msg_sent_total",
			Help: "Total number of gRPC stream messages sent by the server.",
		}, labels),
		handling: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "grpc_server_handling_seconds",
			Help:    "Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.",
			Buckets: buckets,
		}, labels),
	}
	m.methods.Store(&map[string]*methodSeries{})
	return m
}

// Describe implements prometheus.Collector.
func (m *rpcMetrics) Describe(ch chan<- *prometheus.Desc) {
	m.started.Describe(ch)
	m.handled.Describe(ch)
	m.received.Describe(ch)
	m.sent.Describe(ch)
	m.handling.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *rpcMetrics) Collect(ch chan<- prometheus.Metric) {
	m.started.Collect(ch)
	m.handled.Collect(ch)
	m.received.Collect(ch)
	m.sent.Collect(ch)
	m.handling.Collect(ch)
}

// initialize creates the zero series of every method of every service
// server serves (handled with every code), and resolves them for its
// calls.
func (m *rpcMetrics) initialize(server reflection.ServiceInfoProvider) {
	methods := make(map[string]*methodSeries)
	for name, v := range *m.methods.Load() {
		methods[name] = v
	}
	for service, info := range server.GetServiceInfo() {
		for _, method := range info.Methods {
			typ := rpcType(method.IsClientStream, method.IsServerStream)
			ms := &methodSeries{
				started:  m.started.WithLabelValues(typ, service, method.Name),
				received: m.received.WithLabelValues(typ, service, method.Name),
				sent:     m.sent.WithLabelValues(typ, service, method.Name),
				handling: m.handling.WithLabelValues(typ, service, method.Name),
			}
			for _, code := range rpcCodes {
				ms.handled[code] = m.handled.WithLabelValues(typ, service, method.Name, code.String())
			}
			methods["/"+service+"/"+method.Name] = ms
		}
	}
	m.methods.Store(&methods)
}

// rpcType is the grpc_type label of a method.
func rpcType(clientStream, serverStream bool) string {
	switch {
	case clientStream && serverStream:
		return "bidi_stream"
	case clientStream:
		return "client_stream"
	case serverStream:
		return "server_stream"
	}
	return "unary"
}

// unaryInterceptor counts a call as started, its request as received, its
// response as sent (when it succeeds) and the call as handled with its
// code, and observes its handling time.
func (m *rpcMetrics) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	ms := (*m.methods.Load())[info.FullMethod]
	if ms != nil {
		ms.started.Inc()
		ms.received.Inc()
	} else {
		service, method := splitFullMethod(info.FullMethod)
		m.started.WithLabelValues("unary", service, method).Inc()
		m.received.WithLabelValues("unary", service, method).Inc()
	}
	resp, err := handler(ctx, req)
	code := rpcCode(err)
	elapsed := time.Since(start).Seconds()
	if ms != nil {
		if err == nil {
			ms.sent.Inc()
		}
		if int(code) < len(ms.handled) && ms.handled[code] != nil {
			ms.handled[code].Inc()
		} else {
			service, method := splitFullMethod(info.FullMethod)
			m.handled.WithLabelValues("unary", service, method, code.String()).Inc()
		}
		ms.handling.Observe(elapsed)
		return resp, err
	}
	service, method := splitFullMethod(info.FullMethod)
	if err == nil {
		m.sent.WithLabelValues("unary", service, method).Inc()
	}
	m.handled.WithLabelValues("unary", service, method, code.String()).Inc()
	m.handling.WithLabelValues("unary", service, method).Observe(elapsed)
	return resp, err
}

// rpcCode is the code of a call's error, as the gRPC server reports it:
// a status's code, or that of a context error.
func rpcCode(err error) codes.Code {
	if err == nil {
		return codes.OK
	}
	if st, ok := status.FromError(err); ok {
		return st.Code()
	}
	return status.FromContextError(err).Code()
}

// splitFullMethod splits a full method name, "/service/method", into its
// service and method; anything else is "unknown", "unknown".
func splitFullMethod(fullMethod string) (service, method string) {
	fullMethod = strings.TrimPrefix(fullMethod, "/")
	if i := strings.IndexByte(fullMethod, '/'); i >= 0 {
		return fullMethod[:i], fullMethod[i+1:]
	}
	return "unknown", "unknown"
}
