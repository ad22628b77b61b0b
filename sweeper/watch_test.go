package sweeper_test

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/signer/local"
	"github.com/presignd/presignd/store"
	"github.com/presignd/presignd/store/sqlite"
	"github.com/presignd/presignd/sweeper"
)

// TestUploadTargetDoesNotOutliveItsFile: bytes that a deleted or failed
// file's still valid upload target stores (S3 and GCS cannot revoke a
// presigned URL) are deleted by every sweep until the target's expiry plus
// grace has passed, and counted; a live file's object at a watched key
// (its deletion did not happen) is left alone.
func TestUploadTargetDoesNotOutliveItsFile(t *testing.T) {
	ctx := t.Context()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "p.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clk := &clock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
	backend := &memBackend{objects: map[string]bool{}}
	reg := prometheus.NewRegistry()
	sw, err := sweeper.New(sweeper.Config{
		Store: st, KeyWatch: st, Backends: map[string]sweeper.Backend{"mem": backend}, Interval: time.Minute,
		Grace: time.Minute, Registerer: reg, Now: clk.now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	now := clk.now()
	expires := now.Add(10 * time.Minute)
	deleted := file("deleted", store.StateReady, expires)
	failed := file("failed", store.StateFailed, expires)
	live := file("live", store.StateReady, expires) // its DeleteFile failed after the watch
	for _, f := range []*store.File{deleted, failed, live} {
		if err := st.CreateFile(ctx, f, store.Quota{}); err != nil {
			t.Fatal(err)
		}
		if err := st.WatchKey(ctx, &store.WatchedKey{Backend: f.Backend, Key: f.Key, FileID: f.ID, Tenant: f.Tenant, Until: expires, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.DeleteFile(ctx, "t", "deleted"); err != nil {
		t.Fatal(err)
	}
	arrive := func() {
		for _, k := range []string{deleted.Key, failed.Key, live.Key} {
			backend.objects[k] = true
		}
	}

	for _, step := range []struct {
		name      string
		advance   time.Duration
		wantLate  int
		arriveNow bool
	}{
		{"late arrivals while the target is valid are deleted", 0, 2, true},
		{"and again at the next sweep", time.Minute, 2, true},
		{"a last time once the target expired plus grace", 11 * time.Minute, 2, true},
		{"then the keys are no longer watched", time.Minute, 0, true},
	} {
		clk.add(step.advance)
		if step.arriveNow {
			arrive()
		}
		c, err := sw.Sweep(ctx)
		if err != nil {
			t.Fatalf("%s: Sweep: %v", step.name, err)
		}
		if c.LateUploads != step.wantLate {
			t.Errorf("%s: %d late uploads deleted, want %d", step.name, c.LateUploads, step.wantLate)
		}
		if step.wantLate > 0 && (backend.has(deleted.Key) || backend.has(failed.Key)) {
			t.Errorf("%s: a late arrival survived the sweep", step.name)
		}
		if !backend.has(live.Key) {
			t.Fatalf("%s: the object of a live file was deleted", step.name)
		}
	}
	if got := counterValue(t, reg, "presignd_sweeper_late_uploads_deleted_total"); got != 6 {
		t.Errorf("presignd_sweeper_late_uploads_deleted_total = %v, want 6", got)
	}
}

// TestSweepRemovesAbandonedTempFiles: the local backend's temporary file
// of a killed upload goes at the next sweep once it is older than the
// longest upload TTL, without waiting for a restart.
func TestSweepRemovesAbandonedTempFiles(t *testing.T) {
	ctx := t.Context()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "p.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	dir := t.TempDir()
	l, err := local.New(local.Config{Dir: dir, BaseURL: "http://127.0.0.1:1", Secret: make([]byte, 32), MaxURLTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	reg := prometheus.NewRegistry()
	sw, err := sweeper.New(sweeper.Config{
		Store: st, Backends: map[string]sweeper.Backend{"files": l}, Leftovers: map[string]signer.LeftoverRemover{"files": l},
		Interval: time.Minute, Registerer: reg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	killed, running := filepath.Join(dir, "tmp", "killed.part"), filepath.Join(dir, "tmp", "running.part")
	for p, age := range map[string]time.Duration{killed: 61 * time.Minute, running: time.Minute} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
		mtime := time.Now().Add(-age)
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	c, err := sw.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(killed); !os.IsNotExist(err) || c.Leftovers != 1 {
		t.Errorf("after a sweep: killed upload's temp file stat err %v, %d leftovers removed; want it gone, 1", err, c.Leftovers)
	}
	if _, err := os.Stat(running); err != nil {
		t.Errorf("a recent temp file (an upload in progress) was removed: %v", err)
	}
	if got := counterValue(t, reg, "presignd_sweeper_leftovers_removed_total"); got != 1 {
		t.Errorf("presignd_sweeper_leftovers_removed_total = %v, want 1", got)
	}
}

// counterValue returns the value of a registered counter.
func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s is not registered", name)
	return 0
}
