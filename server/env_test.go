package server

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	presigndv1 "github.com/presignd/presignd/gen/presignd/v1"
	"github.com/presignd/presignd/policy"
	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/signer/local"
	"github.com/presignd/presignd/store"
	"github.com/presignd/presignd/store/sqlite"
)

// testEnv is a Server on real parts: SQLite in a temp dir, the local
// backend behind an httptest server, gRPC on loopback and the REST gateway.
type testEnv struct {
	client  presigndv1.FileServiceClient
	restURL string
	store   store.Store
	local   *local.Signer
	clock   *testClock
	keys    map[string]string // tenant → API key
}

// testClock is the server's clock; tests move it to sign already-expired
// targets. The local backend verifies with the real time.
type testClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *testClock) set(offset time.Duration) {
	c.mu.Lock()
	c.offset = offset
	c.mu.Unlock()
}

var testSecret = []byte("0123456789abcdef0123456789abcdef-test")

func newTestEnv(t testing.TB, categories ...*policy.Category) *testEnv {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, "presignd.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })

	mux := http.NewServeMux()
	httpSrv := httptest.NewServer(mux)
	t.Cleanup(httpSrv.Close)
	loc, err := local.New(local.Config{Dir: filepath.Join(dir, "objects"), BaseURL: httpSrv.URL, PathPrefix: "/local/", Secret: DeriveKey(testSecret, "local")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { loc.Close() })
	mux.Handle("/local/", loc.Handler())

	cats := map[string]*policy.Category{policy.DefaultCategory: policy.Default("local")}
	for _, c := range categories {
		cats[c.Name] = c
	}
	clock := &testClock{}
	srv, err := New(Config{
		Store: st, Backends: map[string]signer.Signer{"local": loc}, Categories: cats,
		Secret: testSecret, Logger: slog.New(slog.DiscardHandler), Now: clock.now,
	})
	if err != nil {
		t.Fatal(err)
	}
	g, err := NewGRPCServer(srv)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go g.Serve(ln)
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	gw, err := NewGateway(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/v1/", gw)

	env := &testEnv{
		client: presigndv1.NewFileServiceClient(conn), restURL: httpSrv.URL,
		store: st, local: loc, clock: clock, keys: map[string]string{},
	}
	for _, tenant := range []string{"acme", "globex"} {
		env.keys[tenant] = env.addKey(t, tenant, time.Time{}, time.Time{})
	}
	return env
}

// addKey stores a new API key for tenant and returns it.
func (e *testEnv) addKey(t testing.TB, tenant string, expires, revoked time.Time) string {
	t.Helper()
	key, err := GenerateAPIKey()
	if err != nil {
		t.Fatal(err)
	}
	err = e.store.CreateAPIKey(context.Background(), &store.APIKey{
		ID: "k-" + key[len(key)-10:], Tenant: tenant, Prefix: APIKeyDisplayPrefix(key), Hash: HashAPIKey(key),
		Scopes: AllScopes, CreatedAt: time.Now().UTC(), ExpiresAt: expires, RevokedAt: revoked,
	})
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// as returns a context carrying tenant's API key.
func (e *testEnv) as(tenant string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+e.keys[tenant])
}
