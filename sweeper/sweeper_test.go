package sweeper_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/store"
	"github.com/presignd/presignd/store/sqlite"
	"github.com/presignd/presignd/sweeper"
)

// memBackend is a backend of objects in memory whose deletes can fail.
type memBackend struct {
	mu      sync.Mutex
	objects map[string]bool
	fail    bool
	deletes int
}

func (b *memBackend) Stat(_ context.Context, key string) (signer.ObjectInfo, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.objects[key] {
		return signer.ObjectInfo{}, fmt.Errorf("stat %s: %w", key, signer.ErrNotFound)
	}
	return signer.ObjectInfo{Size: 1}, nil
}

func (b *memBackend) Delete(_ context.Context, key string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fail {
		return errors.New("backend down")
	}
	b.deletes++
	delete(b.objects, key)
	return nil
}

func (b *memBackend) has(key string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.objects[key]
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func file(id string, state store.State, expires time.Time) *store.File {
	return &store.File{ID: id, Tenant: "t", Key: "t/" + id, Backend: "mem", State: state, SizeBytes: 10,
		CreatedAt: expires.Add(-time.Hour), UploadExpires: expires}
}

func TestSweep(t *testing.T) {
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
		Store: st, Backends: map[string]sweeper.Backend{"mem": backend}, Interval: time.Second,
		BatchSize: 2, Grace: time.Minute, CheckEvery: time.Hour, Registerer: reg, Now: clk.now,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	now := clk.now()
	// Three abandoned uploads, one with a partial object; one still in its
	// grace period; one READY file with its object and one without.
	for i := range 3 {
		f := file(fmt.Sprintf("expired-%d", i), store.StatePending, now.Add(-2*time.Minute))
		if err := st.CreateFile(ctx, f, store.Quota{}); err != nil {
			t.Fatal(err)
		}
	}
	backend.objects["t/expired-0"] = true
	grace := file("in-grace", store.StatePending, now.Add(-30*time.Second))
	readyOK := file("ready-ok", store.StateReady, now)
	readyGone := file("ready-gone", store.StateReady, now)
	for _, f := range []*store.File{grace, readyOK, readyGone} {
		if err := st.CreateFile(ctx, f, store.Quota{}); err != nil {
			t.Fatal(err)
		}
	}
	backend.objects["t/ready-ok"] = true

	c, err := sw.Sweep(ctx)
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if c.Expired != 3 || c.ObjectsDeleted[store.DeletionExpired] != 3 || c.Checked != 2 || c.Missing != 1 {
		t.Fatalf("first sweep = %+v, want 3 expired, 3 objects deleted, 2 checked, 1 missing", c)
	}
	if backend.has("t/expired-0") {
		t.Error("the partial object of an expired upload is still stored")
	}
	if f, _ := st.GetFile(ctx, "t", "in-grace"); f.State != store.StatePending {
		t.Errorf("an upload within its grace period is %s, want PENDING", f.State)
	}
	if f, _ := st.GetFile(ctx, "t", "ready-gone"); f.ObjectMissingSince.IsZero() {
		t.Error("a READY file whose object is gone is not flagged")
	}
	if f, _ := st.GetFile(ctx, "t", "ready-ok"); !f.ObjectMissingSince.IsZero() {
		t.Error("a READY file with its object is flagged")
	}

	// A deleted file's object, while the backend is down: retried with
	// backoff until it succeeds, counted once.
	if _, err := st.DeleteFileAndQueueObject(ctx, "t", "ready-ok", now, now); err != nil {
		t.Fatal(err)
	}
	backend.fail = true
	if c, err := sw.Sweep(ctx); err != nil || c.DeleteFailures != 1 {
		t.Fatalf("sweep with the backend down = %+v, %v; want 1 failure", c, err)
	}
	if c, _ := sw.Sweep(ctx); c.DeleteFailures != 0 {
		t.Fatalf("a failed deletion was retried before its backoff: %+v", c)
	}
	backend.fail = false
	clk.add(sweeper.Backoff(1))
	if c, _ := sw.Sweep(ctx); c.ObjectsDeleted[store.DeletionDeleted] != 1 || backend.has("t/ready-ok") {
		t.Fatalf("sweep after the backoff = %+v, want the object deleted", c)
	}
	if c, _ := sw.Sweep(ctx); !(c.ObjectsDeleted == nil && c.Expired == 0) {
		t.Fatalf("an idle sweep did work: %+v", c)
	}

	for name, want := range map[string]float64{
		"presignd_sweeper_uploads_expired_total":        3,
		"presignd_sweeper_object_delete_failures_total": 1,
		"presignd_sweeper_objects_missing_total":        1,
		"presignd_sweeper_sweeps_total":                 5,
	} {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, mf := range mfs {
			if mf.GetName() == name {
				found = true
				if got := mf.GetMetric()[0].GetCounter().GetValue(); got != want {
					t.Errorf("%s = %v, want %v", name, got, want)
				}
			}
		}
		if !found {
			t.Errorf("metric %s is not registered", name)
		}
	}
	if _, err := sweeper.New(sweeper.Config{Store: st, Interval: time.Second, Registerer: reg}); err == nil {
		t.Error("a second sweeper registered on the same registry")
	}
}

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		attempts int
		want     time.Duration
	}{{0, 10 * time.Second}, {1, 10 * time.Second}, {2, 20 * time.Second}, {4, 80 * time.Second}, {20, time.Hour}} {
		if got := sweeper.Backoff(tc.attempts); got != tc.want {
			t.Errorf("Backoff(%d) = %s, want %s", tc.attempts, got, tc.want)
		}
	}
}
