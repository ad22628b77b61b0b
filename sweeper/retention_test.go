package sweeper_test

import (
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/presignd/presignd/store"
	"github.com/presignd/presignd/store/sqlite"
	"github.com/presignd/presignd/sweeper"
)

func TestRetentionDeletesOldReadyFiles(t *testing.T) {
	ctx := t.Context()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "p.db"), Events: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clk := &clock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
	now := clk.now()
	backend := &memBackend{objects: map[string]bool{}}
	sw, err := sweeper.New(sweeper.Config{
		Store: st, Backends: map[string]sweeper.Backend{"mem": backend}, Interval: time.Second,
		BatchSize: 2, Grace: time.Minute, Now: clk.now, Retention: map[string]time.Duration{"short": time.Hour},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	mk := func(id, category string, state store.State, completed time.Time) {
		f := file(id, state, time.Time{})
		f.Category, f.CompletedAt, f.CreatedAt = category, completed, completed.Add(-time.Minute)
		if state == store.StatePending {
			f.CompletedAt = time.Time{}
		}
		if err := st.CreateFile(ctx, f, store.Quota{}); err != nil {
			t.Fatal(err)
		}
		backend.objects[f.Key] = true
	}
	// Three READY files past the hour (more than a batch), one within it,
	// an old one of a category without retention, an old PENDING one.
	for _, id := range []string{"old-1", "old-2", "old-3"} {
		mk(id, "short", store.StateReady, now.Add(-2*time.Hour))
	}
	mk("recent", "short", store.StateReady, now.Add(-30*time.Minute))
	mk("kept", "forever", store.StateReady, now.Add(-1000*time.Hour))
	mk("uploading", "short", store.StatePending, now.Add(-2*time.Hour))

	c, err := sw.Sweep(ctx)
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if c.Retained != 3 || c.ObjectsDeleted[store.DeletionDeleted] != 3 {
		t.Fatalf("sweep = %+v, want 3 retained files deleted with their objects", c)
	}
	tests := []struct {
		name string
		id   string
		gone bool
	}{
		{"a READY file past its category's retention is deleted", "old-1", true},
		{"every one of them, over several batches", "old-3", true},
		{"a READY file within the retention is kept", "recent", false},
		{"a category without retention keeps its files", "kept", false},
		{"a PENDING upload is left to upload expiry", "uploading", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := st.GetFile(ctx, "t", tt.id)
			if gone := err != nil; gone != tt.gone {
				t.Errorf("GetFile(%s): %v; want gone %v", tt.id, err, tt.gone)
			}
			if backend.has("t/"+tt.id) == tt.gone {
				t.Errorf("object of %s stored: %v; want %v", tt.id, !tt.gone, !tt.gone)
			}
		})
	}
	t.Run("each deletion writes a file.deleted event", func(t *testing.T) {
		events, err := st.ClaimEvents(ctx, now, now.Add(time.Minute), 100)
		if err != nil {
			t.Fatal(err)
		}
		deleted := 0
		for _, e := range events {
			if e.Type == store.EventFileDeleted {
				deleted++
			}
		}
		if deleted != 3 {
			t.Errorf("%d file.deleted events, want 3", deleted)
		}
	})
	t.Run("the next sweep finds nothing more to retire", func(t *testing.T) {
		c, err := sw.Sweep(ctx)
		if err != nil || c.Retained != 0 {
			t.Fatalf("second sweep = %+v, %v; want nothing retained", c, err)
		}
	})
}
