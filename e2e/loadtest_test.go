package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/presignd/presignd/config"
	presigndv1 "github.com/presignd/presignd/gen/presignd/v1"
	"github.com/presignd/presignd/store"
	"github.com/presignd/presignd/store/postgres"
	"github.com/presignd/presignd/store/sqlite"
)

// TestLoadAndKill sends N CreateUploads (PRESIGND_LOADTEST_N, default
// 100000) from 256 concurrent callers, kills the server with SIGKILL when
// half of them are acknowledged, restarts it on the same data dir and
// sends the rest, retrying every unacknowledged request with its
// request_id. It asserts counts, never speed: no call fails outside the
// kill, every acknowledged file is in the store after the restart, and the
// store holds exactly N files (retries of requests that did commit before
// the kill created nothing twice).
//
// It runs on SQLite and, when PRESIGND_TEST_POSTGRES_URI names a server,
// on PostgreSQL. It takes minutes, so it runs only with PRESIGND_LOADTEST=1;
// .ci/run runs it with a smaller N.
func TestLoadAndKill(t *testing.T) {
	if os.Getenv("PRESIGND_LOADTEST") != "1" {
		t.Skip("set PRESIGND_LOADTEST=1 to run the load and kill -9 test (PRESIGND_LOADTEST_N requests, default 100000)")
	}
	n := 100000
	if v := os.Getenv("PRESIGND_LOADTEST_N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1000 {
			t.Fatalf("PRESIGND_LOADTEST_N=%q: need an integer >= 1000", v)
		}
	}
	t.Run("sqlite", func(t *testing.T) {
		dataDir := t.TempDir()
		cfg := writeConfig(t, "log: {level: warn}\nauth: {api_key_cache_ttl: 10s}\n")
		loadAndKill(t, n, []string{"--config", cfg, "--data-dir", dataDir}, func(t *testing.T) store.Store {
			st, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(dataDir, "presignd.db")})
			if err != nil {
				t.Fatal(err)
			}
			return st
		})
	})
	t.Run("postgres", func(t *testing.T) {
		cfg, _, _ := postgresReplicas(t, "auth: {api_key_cache_ttl: 10s}\n")
		loadAndKill(t, n, []string{"--config", cfg, "--data-dir", t.TempDir()}, func(t *testing.T) store.Store {
			st, err := openPostgresOf(t, cfg)
			if err != nil {
				t.Fatal(err)
			}
			return st
		})
	})
}

// loadAndKill is TestLoadAndKill on the server that args configure; open
// opens its store once the server is stopped.
func loadAndKill(t *testing.T, n int, args []string, open func(t *testing.T) store.Store) {
	const concurrency = 256

	// The race-instrumented binary of TestMain is too slow for this: use
	// the binary the Dockerfile builds.
	bin := filepath.Join(t.TempDir(), "presignd")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "../cmd/presignd")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	raceBinary := binary
	binary = bin
	defer func() { binary = raceBinary }()

	var (
		acked      sync.Map // request index → file id
		ackedCount atomic.Int64
		next       atomic.Int64 // next request index not yet sent
		mu         sync.Mutex
		unacked    []int // failed in flight at the kill
		hardErrs   []error
		half       = int64(n / 2)
		halfway    = make(chan struct{}) // closed when half the requests are acknowledged
	)
	requestID := func(i int) string { return fmt.Sprintf("load-%08d", i) }
	// drive sends requests from next (and then from retry) until stop
	// returns true or none are left; a failure while the server is being
	// killed puts the request back for after the restart.
	drive := func(inst *instance, retry []int, killing *atomic.Bool, stop func() bool) {
		client := inst.grpcClient(t)
		ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+inst.APIKey)
		var retryNext atomic.Int64
		var wg sync.WaitGroup
		for range concurrency {
			wg.Go(func() {
				for !stop() {
					var i int
					if r := int(retryNext.Add(1)) - 1; r < len(retry) {
						i = retry[r]
					} else if i = int(next.Add(1)) - 1; i >= n {
						return
					}
					cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
					resp, err := client.CreateUpload(cctx, &presigndv1.CreateUploadRequest{
						Filename: fmt.Sprintf("load-%d.bin", i), ContentType: "application/octet-stream",
						SizeBytes: int64(1 + i%4096), RequestId: requestID(i),
					})
					cancel()
					if err != nil {
						mu.Lock()
						if killing != nil && killing.Load() {
							unacked = append(unacked, i)
						} else {
							hardErrs = append(hardErrs, fmt.Errorf("request %d: %w", i, err))
						}
						mu.Unlock()
						if killing != nil && killing.Load() {
							return
						}
						continue
					}
					if _, loaded := acked.LoadOrStore(i, resp.GetFile().GetFileId()); !loaded && ackedCount.Add(1) == half {
						close(halfway)
					}
				}
			})
		}
		wg.Wait()
	}

	// Phase 1: load until half is acknowledged, then kill -9 mid-flight.
	inst := start(t, args...)
	var killing atomic.Bool
	killed := make(chan struct{})
	go func() {
		<-halfway
		killing.Store(true)
		_ = inst.cmd.Process.Kill()
		_ = inst.cmd.Wait()
		close(killed)
	}()
	start1 := time.Now()
	drive(inst, nil, &killing, func() bool { return killing.Load() })
	if ackedCount.Load() < half {
		t.Fatalf("the load ended with %d of %d requests acknowledged, before the kill; %d calls failed (first: %v)", ackedCount.Load(), n, len(hardErrs), hardErrs)
	}
	<-killed
	phase1 := time.Since(start1)
	ackedAtKill := ackedCount.Load()
	if len(hardErrs) > 0 {
		t.Fatalf("%d calls failed before the kill; first: %v", len(hardErrs), hardErrs[0])
	}
	// Requests taken from next but neither acknowledged nor failed (the
	// worker stopped) are sent again too.
	pending := map[int]bool{}
	for _, i := range unacked {
		pending[i] = true
	}
	for i := range int(min(next.Load(), int64(n))) {
		if _, ok := acked.Load(i); !ok {
			pending[i] = true
		}
	}
	retry := make([]int, 0, len(pending))
	for i := range pending {
		retry = append(retry, i)
	}
	next.Store(min(next.Load(), int64(n)))
	t.Logf("phase 1: %d acknowledged in %s, then kill -9; %d requests in flight or unsent to retry", ackedAtKill, phase1.Round(time.Millisecond), len(retry))

	// Phase 2: restart on the same data dir; retry and finish.
	inst = start(t, args...)
	start2 := time.Now()
	drive(inst, retry, nil, func() bool { return false })
	phase2 := time.Since(start2)
	if len(hardErrs) > 0 {
		t.Fatalf("%d calls failed after the restart; first: %v", len(hardErrs), hardErrs[0])
	}
	if got := ackedCount.Load(); got != int64(n) {
		t.Fatalf("%d of %d requests acknowledged", got, n)
	}
	t.Logf("phase 2: %d more acknowledged in %s", int64(n)-ackedAtKill, phase2.Round(time.Millisecond))
	inst.stop(t)

	// Every acknowledged file is in the store, and nothing else is.
	st := open(t)
	defer st.Close()
	missing := 0
	acked.Range(func(k, v any) bool {
		f, err := st.GetFile(context.Background(), "dev", v.(string))
		if err != nil || f.RequestID != requestID(k.(int)) {
			if missing++; missing <= 5 {
				t.Errorf("acknowledged request %d (file %s): %v", k, v, err)
			}
		}
		return true
	})
	if missing > 0 {
		t.Fatalf("%d acknowledged files are missing", missing)
	}
	count, ids := 0, map[string]bool{}
	var after *store.Cursor
	for {
		page, more, err := st.ListFiles(context.Background(), "dev", store.ListOptions{After: after, Limit: 5000})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range page {
			count++
			ids[f.RequestID] = true
		}
		if !more || len(page) == 0 {
			break
		}
		last := page[len(page)-1]
		after = &store.Cursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
	if count != n || len(ids) != n {
		t.Fatalf("the store holds %d files with %d request ids, want exactly %d", count, len(ids), n)
	}
	t.Logf("%d CreateUploads at %d concurrency, kill -9 after %d acknowledged: 0 errors, all %d acknowledged files present, no duplicates (%.0f req/s before the kill, %.0f after)",
		n, concurrency, ackedAtKill, n, float64(ackedAtKill)/phase1.Seconds(), float64(int64(n)-ackedAtKill)/phase2.Seconds())
}

// openPostgresOf opens the PostgreSQL store that the config file at path
// names.
func openPostgresOf(t *testing.T, path string) (store.Store, error) {
	t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	return postgres.Open(context.Background(), postgres.Config{URI: cfg.Store.Postgres.URI, Schema: cfg.Store.Postgres.Schema})
}
