package server

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/presignd/presignd/auth"
	"github.com/presignd/presignd/auth/authtest"
	presigndv1 "github.com/presignd/presignd/gen/presignd/v1"
	"github.com/presignd/presignd/internal/testenv"
	"github.com/presignd/presignd/policy"
	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/store"
	"github.com/presignd/presignd/store/postgres"
	"github.com/presignd/presignd/store/sqlite"
)

// benchServer is a Server on SQLite with one API key, for measuring the
// auth interceptor alone: what every RPC pays before its handler runs.
func benchServer(b *testing.B, cfg AuthConfig) (*Server, string) {
	b.Helper()
	st, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(b.TempDir(), "bench.db")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return benchServerOn(b, st, cfg)
}

// benchPostgres opens a PostgreSQL store on a new schema of the test
// server, dropped when b ends; it skips b when none is configured.
func benchPostgres(b *testing.B) store.Store {
	b.Helper()
	uri := testenv.Get(b, "PRESIGND_TEST_POSTGRES_URI", "set it to a PostgreSQL URI to measure API-key lookups on PostgreSQL")
	schema := fmt.Sprintf("presignd_bench_%d", time.Now().UnixNano())
	b.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), uri)
		if err != nil {
			b.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
			b.Errorf("drop schema %s: %v", schema, err)
		}
	})
	st, err := postgres.Open(context.Background(), postgres.Config{URI: uri, Schema: schema})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

// benchServerOn is benchServer on st.
func benchServerOn(b *testing.B, st store.Store, cfg AuthConfig) (*Server, string) {
	b.Helper()
	secret, k, err := auth.NewAPIKey(auth.NewKeyOptions{Tenant: "acme", Scopes: auth.AllScopes})
	if err != nil {
		b.Fatal(err)
	}
	if err := st.CreateAPIKey(context.Background(), k); err != nil {
		b.Fatal(err)
	}
	s, err := New(Config{
		Store: st, Backends: map[string]signer.Signer{}, Categories: map[string]*policy.Category{},
		Secret: testSecret, Logger: slog.New(slog.DiscardHandler), Auth: cfg,
	})
	if err != nil {
		b.Fatal(err)
	}
	return s, secret
}

func benchInterceptor(b *testing.B, s *Server, md metadata.MD) {
	ctx := metadata.NewIncomingContext(context.Background(), md)
	info := &grpc.UnaryServerInfo{FullMethod: presigndv1.FileService_GetFile_FullMethodName}
	req := &presigndv1.GetFileRequest{FileId: "x"}
	handler := func(ctx context.Context, _ any) (any, error) { return nil, nil }
	if _, err := s.authInterceptor(ctx, req, info, handler); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.authInterceptor(ctx, req, info, handler); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthAPIKey is the interceptor's cost per RPC for an API key:
// parse, SHA-256, the SQLite lookup (or the cache hit), checks and scope.
func BenchmarkAuthAPIKey(b *testing.B) {
	b.Run("store", func(b *testing.B) {
		s, key := benchServer(b, AuthConfig{})
		benchInterceptor(b, s, metadata.Pairs("authorization", "Bearer "+key))
	})
	b.Run("cached", func(b *testing.B) {
		s, key := benchServer(b, AuthConfig{KeyCacheTTL: 10 * time.Second})
		benchInterceptor(b, s, metadata.Pairs("authorization", "Bearer "+key))
	})
	b.Run("postgres", func(b *testing.B) {
		s, key := benchServerOn(b, benchPostgres(b), AuthConfig{})
		benchInterceptor(b, s, metadata.Pairs("authorization", "Bearer "+key))
	})
	b.Run("postgres-cached", func(b *testing.B) {
		s, key := benchServerOn(b, benchPostgres(b), AuthConfig{KeyCacheTTL: 10 * time.Second})
		benchInterceptor(b, s, metadata.Pairs("authorization", "Bearer "+key))
	})
}

// BenchmarkAuthJWT is the interceptor's cost per RPC for a JWT from a
// cached JWKS: parse, signature verification, claim checks and scope.
func BenchmarkAuthJWT(b *testing.B) {
	iss := authtest.New(b)
	v, err := auth.NewJWTVerifier(context.Background(), auth.JWTConfig{JWKSURL: iss.JWKSURL, Issuer: iss.Issuer, Audience: iss.Audience})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { v.Close() })
	s, _ := benchServer(b, AuthConfig{JWT: v})
	for _, kid := range []string{authtest.RSAKey, authtest.ECKey} {
		c := iss.Valid("acme")
		c.Expires = time.Now().Add(time.Hour)
		tok := iss.Sign(b, kid, c)
		name := map[string]string{authtest.RSAKey: "RS256", authtest.ECKey: "ES256"}[kid]
		b.Run(name, func(b *testing.B) {
			benchInterceptor(b, s, metadata.Pairs("authorization", "Bearer "+tok))
		})
	}
}
