package storetest

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/presignd/presignd/store"
)

// keyWatch returns s's KeyWatch capability, or skips t.
func keyWatch(t *testing.T, s store.Store) store.KeyWatch {
	t.Helper()
	kw := store.CapabilitiesOf(s).KeyWatch
	if kw == nil {
		t.Skipf("%T does not implement store.KeyWatch", s)
	}
	return kw
}

// watch records a watched key for f, due at due.
func watch(t *testing.T, kw store.KeyWatch, f *store.File, due time.Time) *store.WatchedKey {
	t.Helper()
	w := &store.WatchedKey{Backend: f.Backend, Key: f.Key, FileID: f.ID, Tenant: f.Tenant,
		Until: due.Add(10 * time.Minute), CreatedAt: due, NextCheck: due}
	if err := kw.WatchKey(t.Context(), w); err != nil {
		t.Fatalf("WatchKey: %v", err)
	}
	return w
}

func watchedIDs(ws []*store.WatchedKey) []int64 {
	out := make([]int64, len(ws))
	for i, w := range ws {
		out[i] = w.ID
	}
	return out
}

func testKeyWatch(t *testing.T, newStore func(t *testing.T) store.Store) {
	now := base.Add(time.Hour)

	t.Run("a watched key is claimed when due, once per lease, until unwatched", func(t *testing.T) {
		s := newStore(t)
		kw := keyWatch(t, s)
		ctx := t.Context()
		f := newFile(tenantA)
		f.Backend, f.Key = "media", "tenant-a/files/watched"
		w := watch(t, kw, f, now)
		if w.ID == 0 || !w.CreatedAt.Equal(storedTime(now)) || !w.Until.Equal(storedTime(now.Add(10*time.Minute))) {
			t.Fatalf("WatchKey wrote back %+v, want an ID, CreatedAt %s and Until %s", w, fmtTime(now), fmtTime(now.Add(10*time.Minute)))
		}
		later := watch(t, kw, newFile(tenantB), now.Add(time.Minute))

		got, err := kw.ClaimWatchedKeys(ctx, now, now.Add(30*time.Second), 10)
		wantErr(t, "ClaimWatchedKeys", err, nil)
		if len(got) != 1 || got[0].ID != w.ID {
			t.Fatalf("ClaimWatchedKeys at %s = %v, want only %d (the other is due later)", fmtTime(now), watchedIDs(got), w.ID)
		}
		c := got[0]
		if c.Backend != "media" || c.Key != f.Key || c.FileID != f.ID || c.Tenant != tenantA ||
			!c.Until.Equal(w.Until) || !c.NextCheck.Equal(storedTime(now.Add(30*time.Second))) {
			t.Errorf("claimed %+v, want the watched key with NextCheck moved to %s", c, fmtTime(now.Add(30*time.Second)))
		}
		if again, err := kw.ClaimWatchedKeys(ctx, now.Add(10*time.Second), now.Add(time.Hour), 10); err != nil || len(again) != 0 {
			t.Errorf("ClaimWatchedKeys within the lease = %v, %v; want nothing", watchedIDs(again), err)
		}
		got, err = kw.ClaimWatchedKeys(ctx, now.Add(time.Minute), now.Add(2*time.Minute), 10)
		wantErr(t, "ClaimWatchedKeys", err, nil)
		if want := []int64{w.ID, later.ID}; !slices.Equal(watchedIDs(got), want) {
			t.Errorf("ClaimWatchedKeys after the lease = %v, want %v", watchedIDs(got), want)
		}
		wantErr(t, "UnwatchKey", kw.UnwatchKey(ctx, w.ID), nil)
		wantErr(t, "UnwatchKey of a missing key", kw.UnwatchKey(ctx, w.ID), nil)
		got, err = kw.ClaimWatchedKeys(ctx, now.Add(time.Hour), now.Add(2*time.Hour), 10)
		wantErr(t, "ClaimWatchedKeys", err, nil)
		if want := []int64{later.ID}; !slices.Equal(watchedIDs(got), want) {
			t.Errorf("ClaimWatchedKeys after UnwatchKey = %v, want %v", watchedIDs(got), want)
		}
		if _, err := kw.ClaimWatchedKeys(ctx, now, now, 0); err == nil {
			t.Error("ClaimWatchedKeys with limit 0: no error")
		}
	})

	t.Run("a claim says whether the file is still PENDING or READY", func(t *testing.T) {
		s := newStore(t)
		kw := keyWatch(t, s)
		ctx := t.Context()
		ready := newFile(tenantA)
		ready.State = store.StateReady
		failed := newFile(tenantA)
		failed.State = store.StateFailed
		pending := newFile(tenantA)
		deleted := newFile(tenantA)
		for _, f := range []*store.File{ready, failed, pending, deleted} {
			mustCreate(t, s, f)
		}
		wantErr(t, "DeleteFile", s.DeleteFile(ctx, tenantA, deleted.ID), nil)
		otherTenant := *ready
		otherTenant.Tenant = tenantB // a file of that ID does not exist in tenant B
		live := map[int64]bool{}
		for f, want := range map[*store.File]bool{ready: true, pending: true, failed: false, deleted: false, &otherTenant: false} {
			live[watch(t, kw, f, now).ID] = want
		}
		got, err := kw.ClaimWatchedKeys(ctx, now, now.Add(time.Minute), 10)
		wantErr(t, "ClaimWatchedKeys", err, nil)
		if len(got) != len(live) {
			t.Fatalf("claimed %d keys, want %d", len(got), len(live))
		}
		for _, w := range got {
			if w.FileLive != live[w.ID] {
				t.Errorf("watched key of file %s (tenant %s): FileLive %v, want %v", w.FileID, w.Tenant, w.FileLive, live[w.ID])
			}
		}
	})

	t.Run("concurrent sweepers claim every watched key exactly once", func(t *testing.T) {
		s := newStore(t)
		kw := keyWatch(t, s)
		const keys, sweepers = 40, 4
		for range keys {
			watch(t, kw, newFile(tenantA), now)
		}
		var mu sync.Mutex
		claimed := map[int64]int{}
		var wg sync.WaitGroup
		errs := make(chan error, sweepers)
		for range sweepers {
			wg.Go(func() {
				for {
					ws, err := kw.ClaimWatchedKeys(t.Context(), now, now.Add(time.Hour), 7)
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					for _, w := range ws {
						claimed[w.ID]++
					}
					mu.Unlock()
					if len(ws) == 0 {
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("sweeper: %v", err)
		}
		if len(claimed) != keys {
			t.Fatalf("%d keys claimed, want %d", len(claimed), keys)
		}
		for id, n := range claimed {
			if n != 1 {
				t.Errorf("watched key %d claimed %d times", id, n)
			}
		}
	})
}
