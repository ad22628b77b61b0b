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

	"github.com/presignd/presignd/auth"
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
	conn    *grpc.ClientConn
	client  presigndv1.FileServiceClient
	admin   presigndv1.AdminServiceClient
	server  *Server
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

// testMinPartSize is the local backend's smallest part in server tests,
// so that multipart uploads take a few KiB.
const testMinPartSize = 1024

var testSecret = []byte("0123456789abcdef0123456789abcdef-test")

func newTestEnv(t testing.TB, categories ...*policy.Category) *testEnv {
	t.Helper()
	return newTestEnvWith(t, envOptions{categories: categories})
}

// envOptions change what newTestEnvWith builds.
type envOptions struct {
	categories []*policy.Category
	// auth is passed to the server; its JWT verifier, when set, should use
	// the env's clock through authClock.
	auth AuthConfig
	// authFor, when set, builds auth from the env's clock instead.
	authFor func(clock *testClock) AuthConfig
	// metrics, when set, records the server's metrics and times its
	// backend; logger, when set, replaces the discarding logger.
	metrics *Metrics
	logger  *slog.Logger
	// wrapStore, when set, gives the server its result instead of the
	// SQLite store itself.
	wrapStore func(*sqlite.Store) store.Store
	// wrapBackend, when set, gives the server its result instead of the
	// local backend itself.
	wrapBackend func(*local.Signer) signer.Signer
	// gateway configures the REST gateway; wrapGateway, when set, wraps
	// its handler (as tracing does).
	gateway     GatewayConfig
	wrapGateway func(http.Handler) http.Handler
	// events turns the store's outbox on.
	events bool
}

// newTestEnvWith is newTestEnv with auth settings.
func newTestEnvWith(t testing.TB, opts envOptions) *testEnv {
	t.Helper()
	categories := opts.categories
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, "presignd.db"), Events: opts.events})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })

	mux := http.NewServeMux()
	httpSrv := httptest.NewServer(mux)
	t.Cleanup(httpSrv.Close)
	loc, err := local.New(local.Config{Dir: filepath.Join(dir, "objects"), BaseURL: httpSrv.URL, PathPrefix: "/local/", Secret: DeriveKey(testSecret, "local"),
		MinPartSize: testMinPartSize})
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
	authCfg := opts.auth
	if opts.authFor != nil {
		authCfg = opts.authFor(clock)
	}
	logger := opts.logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var serverStore store.Store = st
	if opts.wrapStore != nil {
		serverStore = opts.wrapStore(st)
	}
	var backend signer.Signer = loc
	if opts.wrapBackend != nil {
		backend = opts.wrapBackend(loc)
	}
	srv, err := New(Config{
		Store: serverStore, Backends: opts.metrics.InstrumentSigners(map[string]signer.Signer{"local": backend}), Categories: cats,
		Secret: testSecret, Logger: logger, Now: clock.now, Auth: authCfg, Metrics: opts.metrics,
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
	gw, err := NewGateway(ctx, srv, opts.gateway)
	if err != nil {
		t.Fatal(err)
	}
	if opts.wrapGateway != nil {
		gw = opts.wrapGateway(gw)
	}
	mux.Handle("/v1/", gw)

	env := &testEnv{
		conn: conn, client: presigndv1.NewFileServiceClient(conn), admin: presigndv1.NewAdminServiceClient(conn), server: srv, restURL: httpSrv.URL,
		store: st, local: loc, clock: clock, keys: map[string]string{},
	}
	for _, tenant := range []string{"acme", "globex"} {
		env.keys[tenant] = env.addKey(t, tenant, time.Time{}, time.Time{})
	}
	return env
}

// addKey stores a new API key for tenant with every scope and returns it.
func (e *testEnv) addKey(t testing.TB, tenant string, expires, revoked time.Time) string {
	t.Helper()
	key, _ := e.addKeyWith(t, &store.APIKey{Tenant: tenant, Scopes: auth.AllScopes, ExpiresAt: expires, RevokedAt: revoked})
	return key
}

// addKeyWith stores a new API key with k's tenant, scopes, categories,
// expiry and revocation, and returns the secret and the key's ID.
func (e *testEnv) addKeyWith(t testing.TB, k *store.APIKey) (secret, id string) {
	t.Helper()
	key, err := auth.GenerateAPIKey()
	if err != nil {
		t.Fatal(err)
	}
	rec := *k
	rec.ID, rec.Prefix, rec.Hash, rec.CreatedAt = "k-"+key[len(key)-10:], auth.APIKeyDisplayPrefix(key), auth.HashAPIKey(key), time.Now().UTC()
	if err := e.store.CreateAPIKey(context.Background(), &rec); err != nil {
		t.Fatal(err)
	}
	return key, rec.ID
}

// as returns a context carrying tenant's API key.
func (e *testEnv) as(tenant string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+e.keys[tenant])
}
