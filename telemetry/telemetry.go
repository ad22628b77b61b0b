// Package telemetry sets up OpenTelemetry tracing for presignd. Tracing is
// off unless an OTLP endpoint is configured (telemetry.otlp_endpoint, or the
// standard OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
// variables); then spans of every gRPC call, and of REST calls through the
// gateway, are exported over OTLP/gRPC.
package telemetry

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc"
)

// Config configures tracing.
type Config struct {
	// Endpoint is the OTLP/gRPC collector: host:port, or a URL
	// (http://host:port is sent without TLS). Empty: tracing is off unless
	// the OTEL_EXPORTER_OTLP_ENDPOINT variables name one.
	Endpoint string
	// Insecure sends to a host:port Endpoint without TLS.
	Insecure bool
	// SampleRatio is the share of new traces sampled, 0 to 1; calls that
	// arrive with a sampled parent are always sampled. 0 means 1.
	SampleRatio float64
	// ServiceName is the service.name resource attribute ("presignd").
	ServiceName string
}

// Tracing is tracing as configured: either off (every method is a no-op)
// or exporting the spans of a TracerProvider.
type Tracing struct {
	provider    *sdktrace.TracerProvider
	propagators propagation.TextMapPropagator
}

// Off is tracing turned off.
var Off = &Tracing{}

// Setup returns tracing as cfg and getenv (os.Getenv in production)
// configure it: Off when neither names an endpoint, an OTLP/gRPC exporter
// otherwise. The exporter connects lazily; an unreachable collector costs
// dropped spans, never a failed call.
func Setup(ctx context.Context, cfg Config, getenv func(string) string) (*Tracing, error) {
	var opts []otlptracegrpc.Option
	switch {
	case cfg.Endpoint != "":
		if strings.Contains(cfg.Endpoint, "://") {
			opts = append(opts, otlptracegrpc.WithEndpointURL(cfg.Endpoint))
		} else {
			opts = append(opts, otlptracegrpc.WithEndpoint(cfg.Endpoint))
			if cfg.Insecure {
				opts = append(opts, otlptracegrpc.WithInsecure())
			}
		}
	case getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "":
		// The exporter reads the OTEL_EXPORTER_OTLP_* variables itself.
	default:
		return Off, nil
	}
	exp, err := otlptracegrpc.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("telemetry: otlp exporter: %w", err)
	}
	return New(exp, cfg), nil
}

// New returns tracing that batches spans to exp, sampled as cfg says.
func New(exp sdktrace.SpanExporter, cfg Config) *Tracing {
	name := cfg.ServiceName
	if name == "" {
		name = "presignd"
	}
	ratio := cfg.SampleRatio
	if ratio <= 0 || ratio > 1 {
		ratio = 1
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", name))),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))),
	)
	return &Tracing{
		provider:    tp,
		propagators: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
	}
}

// Enabled reports whether spans are exported.
func (t *Tracing) Enabled() bool { return t.provider != nil }

// ServerOptions instrument a gRPC server: a span per call, continuing the
// caller's trace context.
func (t *Tracing) ServerOptions() []grpc.ServerOption {
	if !t.Enabled() {
		return nil
	}
	return []grpc.ServerOption{grpc.StatsHandler(otelgrpc.NewServerHandler(
		otelgrpc.WithTracerProvider(t.provider), otelgrpc.WithPropagators(t.propagators)))}
}

// DialOptions instrument a gRPC client (the gateway's connection): a span
// per call, and the trace context sent along.
func (t *Tracing) DialOptions() []grpc.DialOption {
	if !t.Enabled() {
		return nil
	}
	return []grpc.DialOption{grpc.WithStatsHandler(otelgrpc.NewClientHandler(
		otelgrpc.WithTracerProvider(t.provider), otelgrpc.WithPropagators(t.propagators)))}
}

// HTTPHandler wraps h (the REST gateway) so that each request gets a span
// that continues the caller's traceparent header.
func (t *Tracing) HTTPHandler(h http.Handler, operation string) http.Handler {
	if !t.Enabled() {
		return h
	}
	return otelhttp.NewHandler(h, operation,
		otelhttp.WithTracerProvider(t.provider), otelhttp.WithPropagators(t.propagators))
}

// Shutdown flushes the spans not yet exported and stops exporting.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if !t.Enabled() {
		return nil
	}
	return t.provider.Shutdown(ctx)
}
