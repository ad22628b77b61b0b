package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/presignd/presignd/internal/testenv"
)

const postgresURIEnv = "PRESIGND_TEST_POSTGRES_URI"

// postgresReplicas writes a config for presignd replicas sharing one new
// PostgreSQL schema (dropped when t ends), one local backend directory and
// one secret, and returns its path, the application_name their sessions
// carry, and the server's URI. extra is appended to the YAML. It skips t
// when no test server is configured.
func postgresReplicas(t *testing.T, extra string) (configPath, appName, uri string) {
	t.Helper()
	uri = testenv.Get(t, postgresURIEnv, "set it to a PostgreSQL URI, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable, to run the replica tests")
	b := make([]byte, 8)
	rand.Read(b)
	suffix := hex.EncodeToString(b)
	schema := "presignd_e2e_" + suffix
	appName = "presignd-e2e-" + suffix
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, uri)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	sep := "?"
	if strings.Contains(uri, "?") {
		sep = "&"
	}
	dir := t.TempDir()
	cfg := fmt.Sprintf(`secret: %q
log: {format: json}
store:
  driver: postgres
  postgres:
    uri: %q
    schema: %q
backends:
  files:
    driver: local
    local:
      dir: %q
`, "e2e-replicas-secret-"+suffix+suffix, uri+sep+"application_name="+appName, schema, filepath.Join(dir, "objects")) + extra
	configPath = filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(configPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return configPath, appName, uri
}

// sweepCounts sums the counts of the "sweep" log lines of an instance.
func (inst *instance) sweepCounts(t *testing.T) map[string]int {
	t.Helper()
	sums := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(inst.output.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) != nil || line["msg"] != "sweep" {
			continue
		}
		for _, k := range []string{"expired", "completed", "objects_deleted_expired", "objects_deleted_deleted", "delete_failures"} {
			n, _ := line[k].(float64)
			sums[k] += int(n)
		}
	}
	return sums
}

func TestReplicas(t *testing.T) {
	t.Parallel()
	t.Run("an upload started on one replica completes on the other and reads on both", func(t *testing.T) {
		cfg, _, _ := postgresReplicas(t, "sweeper: {interval: 0s}\n")
		a := start(t, "--config", cfg)
		b := start(t, "--config", cfg)
		body := []byte("bytes sent to replica A, confirmed on replica B")
		code, created := a.rest(t, "POST", "/v1/uploads", map[string]any{
			"filename": "shared.txt", "content_type": "text/plain", "size_bytes": len(body),
		})
		if code != http.StatusOK {
			t.Fatalf("CreateUpload on A: %d %v", code, created)
		}
		id := str(created, "file.file_id")
		if code := upload(t, targetFromJSON(t, created["upload_target"]), body); code/100 != 2 {
			t.Fatalf("upload to A's target: %d", code)
		}
		code, completed := b.rest(t, "POST", "/v1/files/"+id+":complete", nil)
		if code != http.StatusOK || str(completed, "file.state") != "FILE_STATE_READY" {
			t.Fatalf("CompleteUpload on B: %d %v", code, completed)
		}
		for name, inst := range map[string]*instance{"A": a, "B": b} {
			code, got := inst.rest(t, "GET", "/v1/files/"+id, nil)
			if code != http.StatusOK || str(got, "file.state") != "FILE_STATE_READY" {
				t.Fatalf("GetFile on %s: %d %v", name, code, got)
			}
			code, dl := inst.rest(t, "POST", "/v1/files/"+id+":download", map[string]any{})
			if code != http.StatusOK {
				t.Fatalf("CreateDownloadUrl on %s: %d %v", name, code, dl)
			}
			if status, got, _ := download(t, str(dl, "url")); status != http.StatusOK || string(got) != string(body) {
				t.Fatalf("download through %s: %d %q", name, status, got)
			}
		}
		if code, resp := a.rest(t, "DELETE", "/v1/files/"+id, nil); code != http.StatusOK {
			t.Fatalf("DeleteFile on A: %d %v", code, resp)
		}
		if code, _ := b.rest(t, "GET", "/v1/files/"+id, nil); code != http.StatusNotFound {
			t.Fatalf("GetFile on B after the delete on A: %d, want 404", code)
		}
	})

	t.Run("two replicas sweeping one database complete each uploaded file and expire each abandoned one, once, and delete each object once", func(t *testing.T) {
		cfg, _, _ := postgresReplicas(t, `sweeper: {interval: 300ms, grace: 0s, batch_size: 1}
categories:
  default:
    url_ttl: 2s
`)
		a := start(t, "--config", cfg)
		b := start(t, "--config", cfg)
		const uploads = 30
		var ids []string
		for i := range uploads {
			inst := []*instance{a, b}[i%2]
			body := []byte(fmt.Sprintf("abandoned upload %02d", i))
			code, created := inst.rest(t, "POST", "/v1/uploads", map[string]any{
				"filename": fmt.Sprintf("abandoned-%02d.txt", i), "content_type": "text/plain", "size_bytes": len(body),
			})
			if code != http.StatusOK {
				t.Fatalf("CreateUpload %d: %d %v", i, code, created)
			}
			ids = append(ids, str(created, "file.file_id"))
			if i%3 == 0 { // uploaded, never completed: the sweeper completes it
				if code := upload(t, targetFromJSON(t, created["upload_target"]), body); code/100 != 2 {
					t.Fatalf("upload %d: %d", i, code)
				}
			}
		}
		const uploaded = (uploads + 2) / 3
		const abandoned = uploads - uploaded
		states := func() map[string]int {
			n := map[string]int{}
			for _, id := range ids {
				if code, got := a.rest(t, "GET", "/v1/files/"+id, nil); code == http.StatusOK {
					n[str(got, "file.state")+"/"+str(got, "file.completed_by")]++
				}
			}
			return n
		}
		eventually(t, 30*time.Second, func() (bool, string) {
			n := states()
			ca, cb := a.sweepCounts(t), b.sweepCounts(t)
			expired := n["FILE_STATE_EXPIRED/"]
			return expired+n["FILE_STATE_READY/sweeper"] == uploads &&
					ca["objects_deleted_expired"]+cb["objects_deleted_expired"] >= expired,
				fmt.Sprintf("states %v; sweep counts A %v, B %v", n, ca, cb)
		})
		// A few more sweeps on both, counted on /metrics: nothing may be
		// done twice.
		sweptA, sweptB := a.metric(t, "presignd_sweeper_sweeps_total"), b.metric(t, "presignd_sweeper_sweeps_total")
		eventually(t, 30*time.Second, func() (bool, string) {
			na, nb := a.metric(t, "presignd_sweeper_sweeps_total"), b.metric(t, "presignd_sweeper_sweeps_total")
			return na >= sweptA+3 && nb >= sweptB+3, fmt.Sprintf("sweeps since: A %v, B %v (want 3 each)", na-sweptA, nb-sweptB)
		})
		ca, cb := a.sweepCounts(t), b.sweepCounts(t)
		t.Logf("sweep counts: A %v, B %v", ca, cb)
		n := states()
		expired, ready := n["FILE_STATE_EXPIRED/"], n["FILE_STATE_READY/sweeper"]
		if expired != abandoned || ready != uploaded {
			t.Errorf("states after more sweeps: %v, want the %d never uploaded EXPIRED and the %d uploaded READY (completed by the sweeper)", n, abandoned, uploaded)
		}
		if got := ca["expired"] + cb["expired"]; got != expired {
			t.Errorf("the replicas expired %d uploads between them, want each of the %d EXPIRED once", got, expired)
		}
		if got := ca["objects_deleted_expired"] + cb["objects_deleted_expired"]; got != expired {
			t.Errorf("the replicas deleted %d objects of expired uploads, want each of the %d once", got, expired)
		}
		if ca["expired"] == 0 || cb["expired"] == 0 {
			t.Logf("one replica did all the expiring (A %d, B %d): correct, but the split was not exercised", ca["expired"], cb["expired"])
		}
		entries, _ := os.ReadDir(filepath.Join(filepath.Dir(cfg), "objects"))
		var left []string
		_ = filepath.WalkDir(filepath.Join(filepath.Dir(cfg), "objects"), func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() && d.Name() == "revoked" {
				return filepath.SkipDir // tombstones of the deleted keys, not objects
			}
			if err == nil && !d.IsDir() {
				left = append(left, p)
			}
			return nil
		})
		keys := map[string]bool{} // an object is its bytes and its metadata file
		for _, p := range left {
			keys[filepath.Base(p)] = true
		}
		if len(keys) != ready {
			t.Errorf("stored objects: %v (%d entries at the top), want the %d of the uploads the sweeper completed, and none of the expired ones", left, len(entries), ready)
		}
		if got := ca["completed"] + cb["completed"]; got != ready {
			t.Errorf("the replicas counted %d completions between them, want each of the %d READY once", got, ready)
		}
		const completedMetric = `presignd_sweeper_uploads_completed_total{state="READY"}`
		if got := a.metric(t, completedMetric) + b.metric(t, completedMetric); got != float64(ready) {
			t.Errorf("%s on A and B: %v between them, want %d", completedMetric, got, ready)
		}
		code, usage := a.rest(t, "GET", "/v1/usage", nil)
		if code != http.StatusOK || str(usage, "bytes_reserved") != "0" {
			t.Errorf("usage after the sweep: %d %v, want nothing reserved", code, usage)
		}
	})
}

// terminate ends every session of the PostgreSQL server that carries
// appName, and returns how many it ended.
func terminate(t *testing.T, uri, appName string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = $1) AS x`, appName).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestStoreOutage(t *testing.T) {
	t.Parallel()
	t.Run("killed database sessions give Unavailable or success, never a 500, and the service recovers by itself", func(t *testing.T) {
		cfg, appName, uri := postgresReplicas(t, "sweeper: {interval: 200ms, grace: 0s}\n")
		inst := start(t, "--config", cfg)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		killed := make(chan int)
		go func() {
			n := 0
			for ctx.Err() == nil {
				n += terminate(t, uri, appName)
				time.Sleep(20 * time.Millisecond)
			}
			killed <- n
		}()
		codes := map[int]int{}
		for i := 0; i < 150; i++ {
			var code int
			var body map[string]any
			switch i % 3 {
			case 0:
				code, body = inst.rest(t, "POST", "/v1/uploads", map[string]any{
					"filename": fmt.Sprintf("outage-%d.txt", i), "content_type": "text/plain", "size_bytes": 5,
				})
			case 1:
				code, body = inst.rest(t, "GET", "/v1/files?page_size=5", nil)
			default:
				code, body = inst.rest(t, "GET", "/v1/usage", nil)
			}
			codes[code]++
			if code != http.StatusOK && code != http.StatusServiceUnavailable {
				t.Errorf("request %d during the outage: %d %v, want 200 or 503", i, code, body)
			}
		}
		cancel()
		n := <-killed
		t.Logf("killed %d sessions; answers by HTTP status: %v", n, codes)
		if n == 0 {
			t.Fatal("no session was terminated: the test proved nothing")
		}
		if inst.cmd.ProcessState != nil {
			t.Fatalf("presignd exited during the outage: %v", inst.cmd.ProcessState)
		}
		// Recovered without a restart: every call succeeds again, ten
		// rounds in a row. Until the pool has dropped the connections
		// killed last (pgxpool pings one idle for over a second before
		// handing it out), a call may still draw one and answer 503, as
		// asserted above; anything else fails the test.
		round, inARow := 0, 0
		eventually(t, 30*time.Second, func() (bool, string) {
			round++
			for _, call := range []struct {
				method, path string
				body         any
			}{
				{"POST", "/v1/uploads", map[string]any{"filename": fmt.Sprintf("after-%d.txt", round), "content_type": "text/plain", "size_bytes": 5}},
				{"GET", "/v1/files?page_size=5", nil},
				{"GET", "/v1/usage", nil},
			} {
				code, body := inst.rest(t, call.method, call.path, call.body)
				switch code {
				case http.StatusOK:
				case http.StatusServiceUnavailable:
					inARow = 0
					return false, fmt.Sprintf("%s %s after the outage: %d %v", call.method, call.path, code, body)
				default:
					t.Fatalf("%s %s after the outage: %d %v, want 200 or 503", call.method, call.path, code, body)
				}
			}
			inARow++
			return inARow >= 10, fmt.Sprintf("%d rounds in a row succeeded, want 10", inARow)
		})
		if strings.Contains(inst.output.String(), "panic") {
			t.Fatalf("presignd logged a panic:\n%s", inst.output)
		}
	})
}
