package server

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/presignd/presignd/store/sqlite"
)

// BenchmarkAccessLog measures one call through the interceptor chain (the
// health Check, which needs no credential, so the chain's own cost shows)
// with the access log line written as JSON at info, and with the log
// level at warn, where the line is not written:
//
//	go test ./server -run '^$' -bench AccessLog -benchmem
func BenchmarkAccessLog(b *testing.B) {
	st, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(b.TempDir(), "presignd.db")})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	for _, bc := range []struct {
		name  string
		level slog.Level
	}{{"log on", slog.LevelInfo}, {"log off", slog.LevelWarn}} {
		b.Run(bc.name, func(b *testing.B) {
			var lines countingWriter
			log := slog.New(NewLogHandler(slog.NewJSONHandler(&lines, &slog.HandlerOptions{Level: bc.level})))
			s, err := New(Config{Store: st, Secret: testSecret, Logger: log})
			if err != nil {
				b.Fatal(err)
			}
			md := metadata.Pairs("x-request-id", "bench-request-id", "user-agent", "bench")
			base := peer.NewContext(metadata.NewIncomingContext(context.Background(), md),
				&peer.Peer{Addr: clientAddr("203.0.113.7:4000")})
			req := &healthpb.HealthCheckRequest{}
			b.ReportAllocs()
			for b.Loop() {
				var stream runtime.ServerTransportStream
				ctx := grpc.NewContextWithServerTransportStream(base, &stream)
				if _, err := s.inProcessHealthCheck(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
			if want := bc.level == slog.LevelInfo; (lines.lines > 0) != want {
				b.Fatalf("%d lines written, want some: %v", lines.lines, want)
			}
		})
	}
}

// countingWriter counts the lines written to it.
type countingWriter struct{ lines int }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.lines++
	return len(p), nil
}
