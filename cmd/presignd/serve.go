package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/presignd/presignd/auth"
	"github.com/presignd/presignd/config"
	"github.com/presignd/presignd/server"
	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/signer/azure"
	"github.com/presignd/presignd/signer/gcs"
	"github.com/presignd/presignd/signer/local"
	"github.com/presignd/presignd/signer/s3"
	"github.com/presignd/presignd/store"
	"github.com/presignd/presignd/store/postgres"
	"github.com/presignd/presignd/store/sqlite"
	"github.com/presignd/presignd/telemetry"
	"github.com/presignd/presignd/web"
)

// devKeyEnv names the environment variable that fixes the dev tenant's key.
const devKeyEnv = "PRESIGND_DEV_API_KEY"

const serveUsage = `Usage:
  presignd serve [--config FILE] [flags]

Runs the service: REST, local uploads, health and metrics on the HTTP
address, the gRPC API on the gRPC address. The configuration is the
built-in defaults, then FILE, then the PRESIGND_* environment variables,
then these flags (docs/config.md lists every setting). On first start it
prints an API key for the dev tenant, once; PRESIGND_DEV_API_KEY fixes it.
`

func serveCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", serveUsage, args, stdout, stderr)
	var (
		configPath = fs.String("config", "", "YAML configuration `file` (default: built-in defaults)")
		dataDir    = fs.String("data-dir", "", "`directory` for the SQLite database, local objects and the secret (default ./data)")
		httpAddr   = fs.String("http-addr", "", "`address` for REST, local uploads and health (default :8080)")
		grpcAddr   = fs.String("grpc-addr", "", "`address` for gRPC (default :8081)")
		publicURL  = fs.String("public-url", "", "base `URL` clients use to reach the HTTP address (default http://localhost:PORT)")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("serve takes no arguments, got %q", fs.Args())
	}
	// Defaults < the file < PRESIGND_* variables < flags, validated once.
	cfg, err := config.Build(config.Sources{File: *configPath, LookupEnv: os.LookupEnv, Override: func(c *config.Config) {
		overrides := []struct {
			value string
			field *string
		}{{*dataDir, &c.DataDir}, {*httpAddr, &c.HTTPAddr}, {*grpcAddr, &c.GRPCAddr}, {*publicURL, &c.PublicURL}}
		for _, o := range overrides {
			if o.value != "" {
				*o.field = o.value
			}
		}
	}})
	if err != nil {
		return err
	}
	return serve(ctx, cfg, stdout, stderr)
}

func newLogger(cfg config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Level))
	opts := &slog.HandlerOptions{Level: level}
	// Every record passes the redaction of signed-URL secrets and gets
	// the request id of its context.
	if cfg.Format == "json" {
		return slog.New(server.NewLogHandler(slog.NewJSONHandler(w, opts)))
	}
	return slog.New(server.NewLogHandler(slog.NewTextHandler(w, opts)))
}

// serve wires the configured parts together and runs until ctx ends, then
// shuts down gracefully.
func serve(ctx context.Context, cfg *config.Config, stdout, stderr io.Writer) error {
	log := newLogger(cfg.Log, stderr)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	unlock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return err
	}
	defer unlock()
	secret, err := loadSecret(cfg)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	storeCaps := store.CapabilitiesOf(st)

	httpLn, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("http listen: %w", err)
	}
	defer httpLn.Close()
	grpcLn, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return fmt.Errorf("grpc listen: %w", err)
	}
	defer grpcLn.Close()
	if cfg.PublicURL == "" {
		cfg.PublicURL = "http://" + loopbackAddr(httpLn.Addr())
	}
	fdLimit := raiseOpenFileLimit(log)
	maxConns := connectionCap(cfg.Limits.MaxConnections, fdLimit, log)
	httpConns := newConnLimiter(httpLn, maxConns)
	httpLn, grpcLn = httpConns, newConnLimiter(grpcLn, maxConns)

	backends, mounts, err := openBackends(ctx, cfg, secret)
	backendCaps := capabilitiesOf(backends)
	defer closeBackends(backendCaps)
	if err != nil {
		return err
	}
	mounts[web.Prefix] = web.Handler() // the browser upload page
	categories, err := cfg.Policies()
	if err != nil {
		return err
	}
	if err := ensureDevKey(ctx, st, cfg.DevTenant, stdout); err != nil {
		return err
	}
	authCfg, closeAuth, err := authConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeAuth()
	// The process's metrics registry (not the global default): RPC,
	// upload and signer metrics, the sweeper's counters, Go and process.
	metricsReg := newRegistry()
	metrics, err := server.NewMetrics(metricsReg)
	if err != nil {
		return err
	}
	signers := metrics.InstrumentSigners(backends) // closeBackends closes the originals
	if err := registerStoreMetrics(metricsReg, storeCaps); err != nil {
		return err
	}
	tracing, err := telemetry.Setup(ctx, telemetry.Config{
		Endpoint: cfg.Telemetry.OTLPEndpoint, Insecure: cfg.Telemetry.OTLPInsecure,
		SampleRatio: cfg.Telemetry.SampleRatio, ServiceName: cfg.Telemetry.ServiceName,
	}, os.Getenv)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tracing.Shutdown(sctx); err != nil {
			log.Warn("telemetry shutdown", "err", err)
		}
	}()
	if tracing.Enabled() {
		log.Info("tracing on: exporting spans over OTLP")
	}
	if cfg.DebugAddr != "" {
		stopDebug, err := startDebugServer(cfg.DebugAddr, log)
		if err != nil {
			return err
		}
		defer stopDebug()
	}
	srv, err := server.New(server.Config{
		Store: st, Backends: signers, Categories: categories, Secret: secret, Logger: log, Auth: authCfg,
		TenantQuota: int64(cfg.TenantQuota), Metrics: metrics, DriverCapabilities: backendCaps,
	})
	if err != nil {
		return err
	}
	// The local backends complete the uploads of complete_on_upload
	// categories as their bytes land.
	for name, b := range backends {
		if l, ok := b.(*local.Signer); ok {
			if hook := srv.UploadCommitted(name); hook != nil {
				l.OnCommit(hook)
			}
		}
	}
	if n := cfg.Notifications; n.S3Token != "" || n.GCSToken != "" {
		h, err := srv.NotificationHandler(server.NotificationConfig{
			S3Token: n.S3Token, GCSToken: n.GCSToken, Buckets: cfg.NotificationBuckets(),
			MaxBodyBytes: int64(n.MaxBodySize), Registerer: metricsReg,
		})
		if err != nil {
			return err
		}
		mounts["/v1/notifications/"] = h
		log.Info("storage notifications on", "s3", n.S3Token != "", "gcs", n.GCSToken != "")
	}
	stopSweeper, err := startSweeper(ctx, cfg.Sweeper, multipartOrphanAge(cfg), retentionPeriods(cfg), st, storeCaps, signers, backendCaps, srv, metricsReg, log)
	if err != nil {
		return err
	}
	defer stopSweeper() // before the store closes
	own, err := scanRoutes(ctx, cfg, st, signers, backendCaps, metricsReg, log)
	if err != nil {
		return err
	}
	thumbs, err := thumbnailRoutes(cfg, st, signers, backendCaps, metricsReg, log)
	if err != nil {
		return err
	}
	own = append(own, thumbs...)
	stopDispatcher, err := startDispatcher(ctx, cfg.Events, own, st, srv.FileJSON, metricsReg, log)
	if err != nil {
		return err
	}
	defer stopDispatcher() // before the store closes
	grpcServer, err := server.NewGRPCServer(srv, append(tracing.ServerOptions(), grpcLimitOptions(cfg.Limits)...)...)
	if err != nil {
		return err
	}
	trusted, err := server.ParseTrustedProxies(cfg.TrustedProxies)
	if err != nil {
		return err
	}
	// REST calls are dispatched in process through the same interceptor
	// chain; tracing.HTTPHandler gives each its span.
	gateway, err := server.NewGateway(ctx, srv, server.GatewayConfig{TrustedProxies: trusted})
	if err != nil {
		return err
	}
	httpServer := &http.Server{
		Handler: server.NewHTTPHandler(server.HTTPConfig{
			Gateway: tracing.HTTPHandler(gateway, "rest"),
			Mounts:  mounts,
			Ready:   server.Ready(st.Ping, signers, checkersOf(backendCaps)),
			Metrics: metricsHandler(metricsReg, log),
			Log:     log,

			MaxRequestBytes:     int64(cfg.Limits.MaxRequestSize),
			TransferIdleTimeout: time.Duration(cfg.Limits.HTTP.TransferIdleTimeout),
		}),
		ReadHeaderTimeout: time.Duration(cfg.Limits.HeaderTimeout),
		ReadTimeout:       time.Duration(cfg.Limits.HTTP.ReadTimeout),
		WriteTimeout:      time.Duration(cfg.Limits.HTTP.WriteTimeout),
		IdleTimeout:       time.Duration(cfg.Limits.HTTP.IdleTimeout),
		MaxHeaderBytes:    int(cfg.Limits.MaxHeaderSize),
		ConnState:         httpConns.ConnState,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	errc := make(chan error, 2)
	go func() { errc <- grpcServer.Serve(grpcLn) }()
	go func() { errc <- httpServer.Serve(httpLn) }()
	fmt.Fprintf(stdout, "presignd: http listening on %s (REST, uploads: %s)\n", httpLn.Addr(), cfg.PublicURL)
	fmt.Fprintf(stdout, "presignd: grpc listening on %s\n", grpcLn.Addr())
	log.Info("presignd started", "http", httpLn.Addr().String(), "grpc", grpcLn.Addr().String(), "store", cfg.Store.Driver, "data_dir", cfg.DataDir,
		"open_file_limit", fdLimit, "max_connections", maxConns,
		"store_capabilities", storeCaps.String(), "backend_capabilities", fmt.Sprint(backendCaps))

	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-errc:
		return fmt.Errorf("server stopped: %w", err)
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := httpServer.Shutdown(shutdownCtx); err != nil {
		log.Warn("http shutdown", "err", err)
	}
	stopped := make(chan struct{})
	go func() { grpcServer.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-shutdownCtx.Done():
		grpcServer.Stop()
	}
	log.Info("stopped")
	return nil
}

// loopbackAddr turns a listener address into one a local client can dial:
// an unspecified host becomes localhost.
func loopbackAddr(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// loadSecret returns the configured secret, or the one generated into the
// data dir on first start.
func loadSecret(cfg *config.Config) ([]byte, error) {
	if cfg.Secret != "" {
		return []byte(cfg.Secret), nil
	}
	if s := os.Getenv("PRESIGND_SECRET"); s != "" {
		if len(s) < 32 {
			return nil, errors.New("PRESIGND_SECRET must be at least 32 characters")
		}
		return []byte(s), nil
	}
	path := filepath.Join(cfg.DataDir, "secret")
	if b, err := os.ReadFile(path); err == nil {
		s := strings.TrimSpace(string(b))
		if len(s) < 32 {
			return nil, fmt.Errorf("%s: secret must be at least 32 characters", path)
		}
		return []byte(s), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read secret: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("generate secret: %w", err)
	}
	s := hex.EncodeToString(raw)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("write secret: %w", err)
	}
	if _, err := f.WriteString(s + "\n"); err != nil {
		f.Close()
		return nil, fmt.Errorf("write secret: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("write secret: %w", err)
	}
	return []byte(s), nil
}

func openStore(ctx context.Context, cfg *config.Config, log *slog.Logger) (store.Store, error) {
	switch cfg.Store.Driver {
	case "sqlite":
		path := cfg.Store.SQLite.Path
		if path == "" {
			path = filepath.Join(cfg.DataDir, "presignd.db")
		}
		return sqlite.Open(ctx, sqlite.Config{Path: path, Log: log, Events: cfg.NeedsOutbox()})
	case "postgres":
		return postgres.Open(ctx, postgres.Config{URI: cfg.Store.Postgres.URI, Schema: cfg.Store.Postgres.Schema, Events: cfg.NeedsOutbox()})
	default:
		return nil, fmt.Errorf("store.driver: unknown driver %q", cfg.Store.Driver)
	}
}

// registerStoreMetrics exports what the store tells about itself, when it
// does.
func registerStoreMetrics(reg prometheus.Registerer, caps store.Capabilities) error {
	if caps.Metrics != nil {
		return reg.Register(caps.Metrics.Collector())
	}
	return nil
}

// localPathPrefix is where the local backend name serves its signed URLs:
// /objects/NAME/KEY.
func localPathPrefix(name string) string { return "/objects/" + name + "/" }

// defaultLocalDir is the local backend name's directory when the
// configuration names none: DATA_DIR/backends/NAME (which holds objects/
// and meta/). A data dir that already holds DATA_DIR/objects/NAME, where
// earlier versions kept it, keeps using that.
func defaultLocalDir(dataDir, name string) string {
	legacy := filepath.Join(dataDir, "objects", name)
	if _, err := os.Stat(legacy); err == nil {
		return legacy
	}
	return filepath.Join(dataDir, "backends", name)
}

// openBackends builds a signer per configured backend, and the HTTP
// handlers that local backends serve.
func openBackends(ctx context.Context, cfg *config.Config, secret []byte) (map[string]signer.Signer, map[string]http.Handler, error) {
	backends := make(map[string]signer.Signer, len(cfg.Backends))
	mounts := make(map[string]http.Handler)
	for name, b := range cfg.Backends {
		switch b.Driver {
		case "local":
			dir := b.Local.Dir
			if dir == "" {
				dir = defaultLocalDir(cfg.DataDir, name)
			}
			prefix := localPathPrefix(name)
			l, err := local.New(local.Config{
				Dir:              dir,
				BaseURL:          cfg.PublicURL,
				PathPrefix:       prefix,
				Secret:           server.DeriveKey(secret, "local-backend/"+name),
				Name:             name,
				MaxURLTTL:        maxURLTTL(cfg),
				MultipartMaxIdle: localMultipartMaxIdle(cfg),
			})
			if err != nil {
				return backends, nil, fmt.Errorf("backends.%s: %w", name, err)
			}
			backends[name] = l
			mounts[prefix] = l.Handler()
		case "s3":
			// Validation refused an unknown provider already.
			p, _ := config.ProviderOf(b.S3)
			region := b.S3.Region
			if region == "" {
				region = p.Region
			}
			s, err := s3.New(ctx, s3.Config{
				Bucket: b.S3.Bucket, Region: region, Endpoint: b.S3.Endpoint, UsePathStyle: b.S3.UsePathStyle || p.PathStyle,
				AccessKeyID: b.S3.AccessKeyID, SecretAccessKey: b.S3.SecretAccessKey,
				NoPostPolicy: !p.PostPolicy, Checksums: p.Checksums,
			})
			if err != nil {
				return backends, nil, fmt.Errorf("backends.%s: %w", name, err)
			}
			backends[name] = s
		case "gcs":
			var hmacSecret string
			if b.GCS.HMACAccessID != "" {
				if hmacSecret = os.Getenv(b.GCS.HMACSecretEnv); hmacSecret == "" {
					return backends, nil, fmt.Errorf("backends.%s.gcs.hmac_secret_env: $%s is empty or unset", name, b.GCS.HMACSecretEnv)
				}
			}
			g, err := gcs.New(ctx, gcs.Config{
				Bucket: b.GCS.Bucket, CredentialsFile: b.GCS.CredentialsFile, GoogleAccessID: b.GCS.GoogleAccessID,
				Endpoint: b.GCS.Endpoint, VirtualHostStyle: b.GCS.VirtualHostStyle,
				HMACAccessID: b.GCS.HMACAccessID, HMACSecret: hmacSecret, HMACRegion: b.GCS.HMACRegion,
			})
			if err != nil {
				return backends, nil, fmt.Errorf("backends.%s: %w", name, err)
			}
			backends[name] = g
		case "azure":
			acfg := azure.Config{Account: b.Azure.Account, Container: b.Azure.Container, Endpoint: b.Azure.Endpoint}
			if b.Azure.UsesAzureAD() {
				// Microsoft Entra ID: environment, workload identity,
				// managed identity or az CLI credentials, tried in turn.
				cred, err := azidentity.NewDefaultAzureCredential(nil)
				if err != nil {
					return backends, nil, fmt.Errorf("backends.%s.azure.auth %s: %w", name, config.AzureAuthAzureAD, err)
				}
				acfg.Credential = cred
			} else {
				key, err := b.Azure.AccountKeyFrom(os.LookupEnv)
				if err != nil {
					return backends, nil, fmt.Errorf("backends.%s.azure.%w", name, err)
				}
				acfg.AccountKey = key
			}
			a, err := azure.New(acfg)
			if err != nil {
				return backends, nil, fmt.Errorf("backends.%s: %w", name, err)
			}
			backends[name] = a
		default:
			return backends, nil, fmt.Errorf("backends.%s.driver: unknown driver %q", name, b.Driver)
		}
	}
	return backends, mounts, nil
}

// maxURLTTL is the longest url_ttl of any category: no target presignd
// signs lives longer.
func maxURLTTL(cfg *config.Config) time.Duration {
	var longest time.Duration
	for _, c := range cfg.Categories {
		longest = max(longest, time.Duration(c.URLTTL))
	}
	return longest
}

// capabilitiesOf discovers the optional capabilities of each backend, by
// configured name.
func capabilitiesOf(backends map[string]signer.Signer) map[string]signer.Capabilities {
	caps := make(map[string]signer.Capabilities, len(backends))
	for name, b := range backends {
		caps[name] = signer.CapabilitiesOf(b)
	}
	return caps
}

// checkersOf picks the backends that answer preflight checks.
func checkersOf(caps map[string]signer.Capabilities) map[string]signer.Checker {
	out := make(map[string]signer.Checker, len(caps))
	for name, c := range caps {
		if c.Checker != nil {
			out[name] = c.Checker
		}
	}
	return out
}

// closeBackends releases the backends that hold resources.
func closeBackends(caps map[string]signer.Capabilities) {
	for _, c := range caps {
		if c.Closer != nil {
			_ = c.Closer.Close()
		}
	}
}

// ensureDevKey makes sure the dev tenant has an API key: the one in
// PRESIGND_DEV_API_KEY, or one generated on first start and printed once.
func ensureDevKey(ctx context.Context, st store.APIKeys, tenant string, stdout io.Writer) error {
	key := os.Getenv(devKeyEnv)
	id := "dev-generated"
	generated := key == ""
	if generated {
		var err error
		if key, err = auth.GenerateAPIKey(); err != nil {
			return err
		}
	} else {
		id = "dev-env-" + hex.EncodeToString(auth.HashAPIKey(key)[:6])
	}
	err := st.CreateAPIKey(ctx, &store.APIKey{
		ID:        id,
		Tenant:    tenant,
		Prefix:    auth.APIKeyDisplayPrefix(key),
		Hash:      auth.HashAPIKey(key),
		Scopes:    auth.AllScopes,
		CreatedAt: time.Now().UTC(),
	})
	switch {
	case errors.Is(err, store.ErrAlreadyExists):
		if generated {
			fmt.Fprintf(stdout, "presignd: the dev API key for tenant %q was generated and printed on first start; set %s to choose your own\n", tenant, devKeyEnv)
		}
		return nil
	case err != nil:
		return fmt.Errorf("create dev api key: %w", err)
	}
	if generated {
		fmt.Fprintf(stdout, "presignd: generated dev API key for tenant %q (shown only once): %s\n", tenant, key)
	}
	return nil
}
