package server

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	presigndv1 "github.com/presignd/presignd/gen/presignd/v1"
)

// TestRPCMetricsMatchTheProvider checks that rpcMetrics exposes what the
// go-grpc-middleware Prometheus provider did for the same server and
// calls: the same families, help, series, counts and histogram sample
// counts.
func TestRPCMetricsMatchTheProvider(t *testing.T) {
	g := grpc.NewServer()
	presigndv1.RegisterFileServiceServer(g, presigndv1.UnimplementedFileServiceServer{})
	healthpb.RegisterHealthServer(g, health.NewServer())
	reflection.Register(g)

	ours := newRPCMetrics(latencyBuckets)
	ours.initialize(g)
	theirs := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(grpcprom.WithHistogramBuckets(latencyBuckets)))
	theirs.InitializeMetrics(g)

	calls := []struct {
		name   string
		method string
		err    error
	}{
		{"an OK call", presigndv1.FileService_CreateUpload_FullMethodName, nil},
		{"another OK call", presigndv1.FileService_CreateUpload_FullMethodName, nil},
		{"a call failing with a status", presigndv1.FileService_GetFile_FullMethodName, status.Error(codes.NotFound, "no such file")},
		{"a call failing with a context error", healthpb.Health_Check_FullMethodName, context.DeadlineExceeded},
		{"a call failing with a plain error", healthpb.Health_Check_FullMethodName, fmt.Errorf("boom")},
		{"a call of a method the server does not serve", "/other.v1.Service/Do", nil},
		{"a failed call of a method the server does not serve", "/other.v1.Service/Do", status.Error(codes.Internal, "x")},
		{"a call of a malformed method name", "nonsense", nil},
	}
	for _, m := range []struct {
		name        string
		interceptor grpc.UnaryServerInterceptor
	}{{"ours", ours.unaryInterceptor}, {"theirs", theirs.UnaryServerInterceptor()}} {
		for _, c := range calls {
			_, err := m.interceptor(context.Background(), struct{}{}, &grpc.UnaryServerInfo{FullMethod: c.method},
				func(context.Context, any) (any, error) { return struct{}{}, c.err })
			if err != c.err {
				t.Fatalf("%s, %s: error %v, want the handler's %v", m.name, c.name, err, c.err)
			}
		}
	}
	got, want := exposition(t, ours), exposition(t, theirs)
	if !slices.Equal(got, want) {
		t.Errorf("exposition differs from the provider's\ngot:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// exposition renders c's families as sorted lines: name, help, type, then
// each series' labels with its counter value or histogram sample count.
func exposition(t *testing.T, c prometheus.Collector) []string {
	t.Helper()
	reg := prometheus.NewRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, f := range families {
		lines = append(lines, fmt.Sprintf("# %s %s %s", f.GetName(), f.GetType(), f.GetHelp()))
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			value := fmt.Sprint(m.GetCounter().GetValue())
			if h := m.GetHistogram(); h != nil {
				var bounds []string
				for _, b := range h.GetBucket() {
					bounds = append(bounds, fmt.Sprint(b.GetUpperBound()))
				}
				value = fmt.Sprintf("count %d buckets %s", h.GetSampleCount(), strings.Join(bounds, ","))
			}
			lines = append(lines, fmt.Sprintf("%s{%s} %s", f.GetName(), strings.Join(labels, ","), value))
		}
	}
	slices.Sort(lines)
	return lines
}
