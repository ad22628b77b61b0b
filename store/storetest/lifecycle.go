package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/presignd/presignd/store"
)

// lifecycle returns s as the store.Lifecycle every store is.
func lifecycle(_ *testing.T, s store.Store) store.Lifecycle { return s }

// pendingUntil returns a PENDING file of tenant whose upload expires at
// expires (never, when zero).
func pendingUntil(tenant string, expires time.Time) *store.File {
	f := newFile(tenant)
	f.CreatedAt = base
	f.UploadExpires = expires
	return f
}

func testLifecycle(t *testing.T, newStore func(t *testing.T) store.Store) {
	now := base.Add(time.Hour)

	t.Run("ExpireUploads expires only the listed files still PENDING and past their expiry, once, and queues their objects", func(t *testing.T) {
		s := newStore(t)
		lc := lifecycle(t, s)
		ctx := t.Context()
		expiredA := pendingUntil(tenantA, now.Add(-time.Minute))
		expiredB := pendingUntil(tenantB, now.Add(-2*time.Minute))
		expiredB.NameScope, expiredB.DisplayName = "app", "report"
		atNow := pendingUntil(tenantA, now)
		later := pendingUntil(tenantA, now.Add(time.Minute))
		never := pendingUntil(tenantA, time.Time{})
		ready := pendingUntil(tenantA, now.Add(-time.Minute))
		ready.State = store.StateReady
		// Past its expiry too, older than every listed file, but not
		// listed: the caller has not looked at it, so it stays PENDING.
		unlisted := pendingUntil(tenantA, now.Add(-time.Hour))
		for _, f := range []*store.File{expiredA, expiredB, atNow, later, never, ready, unlisted} {
			mustCreate(t, s, f)
		}
		listed := []string{atNow.ID, later.ID, never.ID, ready.ID, expiredA.ID, "missing", expiredB.ID}
		got, err := lc.ExpireUploads(ctx, listed, now, now)
		wantErr(t, "ExpireUploads", err, nil)
		want := []string{expiredB.ID, expiredA.ID, atNow.ID} // oldest expiry first
		if !slices.Equal(ids(got), want) {
			t.Fatalf("ExpireUploads = %v, want %v (oldest expiry first)", ids(got), want)
		}
		for _, f := range got {
			if f.State != store.StateExpired || !f.UpdatedAt.Equal(storedTime(now)) {
				t.Errorf("expired file %s: state %s, updated %s; want EXPIRED at %s", f.ID, f.State, fmtTime(f.UpdatedAt), fmtTime(now))
			}
			if g := mustGet(t, s, f.Tenant, f.ID); g.State != store.StateExpired {
				t.Errorf("GetFile(%s).State = %s after expiry, want EXPIRED", f.ID, g.State)
			}
		}
		for _, f := range []*store.File{later, never, ready, unlisted} {
			if g := mustGet(t, s, f.Tenant, f.ID); g.State != f.State {
				t.Errorf("file %s is %s, want it left %s", f.ID, g.State, f.State)
			}
		}
		again, err := lc.ExpireUploads(ctx, listed, now, now)
		if err != nil || len(again) != 0 {
			t.Fatalf("second ExpireUploads = %v, %v; want nothing", ids(again), err)
		}
		if none, err := lc.ExpireUploads(ctx, nil, now, now); err != nil || len(none) != 0 {
			t.Fatalf("ExpireUploads of no ids = %v, %v; want nothing", ids(none), err)
		}
		// An expired file's name is free again.
		reuse := newFile(tenantB)
		reuse.NameScope, reuse.DisplayName = "app", "report"
		mustCreate(t, s, reuse)

		ds, err := lc.ClaimDeletions(ctx, now, now.Add(time.Minute), 10)
		wantErr(t, "ClaimDeletions", err, nil)
		keys := map[string]bool{}
		for _, d := range ds {
			keys[d.Key] = true
			if d.Reason != store.DeletionExpired || d.Attempts != 1 || d.Backend != "local" {
				t.Errorf("deletion %+v: want reason expired, 1 attempt, backend local", d)
			}
		}
		if len(ds) != 3 || !keys[expiredA.Key] || !keys[expiredB.Key] || !keys[atNow.Key] {
			t.Fatalf("ClaimDeletions = %d deletions %v, want the 3 expired files' objects", len(ds), keys)
		}
	})

	t.Run("ExpireUploads skips a listed file completed, or given a later expiry, after the listing", func(t *testing.T) {
		s := newStore(t)
		lc := lifecycle(t, s)
		ctx := t.Context()
		completed := pendingUntil(tenantA, now.Add(-time.Minute))
		extended := pendingUntil(tenantA, now.Add(-time.Minute))
		abandoned := pendingUntil(tenantB, now.Add(-time.Minute))
		for _, f := range []*store.File{completed, extended, abandoned} {
			mustCreate(t, s, f)
		}
		listed, err := lc.ExpiringUploads(ctx, now, 10)
		wantErr(t, "ExpiringUploads", err, nil)
		if len(listed) != 3 {
			t.Fatalf("ExpiringUploads = %v, want the 3 files", ids(listed))
		}
		_, err = s.UpdateFile(ctx, tenantA, completed.ID, func(f *store.File) error {
			f.State, f.CompletedBy, f.CompletedAt = store.StateReady, store.CompletedByNotification, now
			return nil
		})
		wantErr(t, "UpdateFile (complete)", err, nil)
		_, err = s.UpdateFile(ctx, tenantA, extended.ID, func(f *store.File) error {
			f.UploadExpires = now.Add(time.Hour)
			return nil
		})
		wantErr(t, "UpdateFile (extend)", err, nil)
		got, err := lc.ExpireUploads(ctx, ids(listed), now, now)
		wantErr(t, "ExpireUploads", err, nil)
		if !slices.Equal(ids(got), []string{abandoned.ID}) {
			t.Fatalf("ExpireUploads = %v, want only %s", ids(got), abandoned.ID)
		}
		if g := mustGet(t, s, tenantA, completed.ID); g.State != store.StateReady {
			t.Errorf("the completed file is %s, want READY", g.State)
		}
		if g := mustGet(t, s, tenantA, extended.ID); g.State != store.StatePending {
			t.Errorf("the file given a later expiry is %s, want PENDING", g.State)
		}
		ds, err := lc.ClaimDeletions(ctx, now, now.Add(time.Minute), 10)
		if err != nil || len(ds) != 1 || ds[0].FileID != abandoned.ID {
			t.Fatalf("ClaimDeletions = %v, %v; want the abandoned file's object only", ds, err)
		}
	})

	t.Run("deletions are leased, retried after their lease or when rescheduled, and finished once", func(t *testing.T) {
		s := newStore(t)
		lc := lifecycle(t, s)
		ctx := t.Context()
		f := pendingUntil(tenantA, now)
		f.State = store.StateReady
		mustCreate(t, s, f)
		d, err := lc.DeleteFileAndQueueObject(ctx, tenantA, f.ID, now, now.Add(time.Minute))
		wantErr(t, "DeleteFileAndQueueObject", err, nil)
		if d.Key != f.Key || d.FileID != f.ID || d.Tenant != tenantA || d.Reason != store.DeletionDeleted ||
			!d.NotBefore.Equal(storedTime(now.Add(time.Minute))) || !d.CreatedAt.Equal(storedTime(now)) {
			t.Fatalf("queued deletion %+v does not describe file %s due in a minute", d, f.ID)
		}
		wantNotFound(t, s, tenantA, f.ID)
		_, err = lc.DeleteFileAndQueueObject(ctx, tenantA, f.ID, now, now)
		wantErr(t, "DeleteFileAndQueueObject of a deleted file", err, store.ErrNotFound)
		_, err = lc.DeleteFileAndQueueObject(ctx, tenantB, "missing", now, now)
		wantErr(t, "DeleteFileAndQueueObject of a missing file", err, store.ErrNotFound)

		claim := func(at time.Time, lease time.Duration) []*store.Deletion {
			t.Helper()
			ds, err := lc.ClaimDeletions(ctx, at, at.Add(lease), 10)
			wantErr(t, "ClaimDeletions", err, nil)
			return ds
		}
		if ds := claim(now, time.Minute); len(ds) != 0 {
			t.Fatalf("a deletion due in a minute was claimed now: %+v", ds[0])
		}
		t1 := now.Add(time.Minute)
		if ds := claim(t1, time.Minute); len(ds) != 1 || ds[0].ID != d.ID || ds[0].Attempts != 1 {
			t.Fatalf("claim when due = %v, want deletion %d at attempt 1", ds, d.ID)
		}
		if ds := claim(t1, time.Minute); len(ds) != 0 {
			t.Fatal("a leased deletion was claimed again within its lease")
		}
		t2 := t1.Add(time.Minute) // the lease ran out: the claimer died
		ds := claim(t2, time.Minute)
		if len(ds) != 1 || ds[0].Attempts != 2 {
			t.Fatalf("claim after the lease = %v, want the deletion at attempt 2", ds)
		}
		wantErr(t, "RetryDeletion", lc.RetryDeletion(ctx, d.ID, t2.Add(10*time.Second), "backend down"), nil)
		if ds := claim(t2.Add(5*time.Second), time.Minute); len(ds) != 0 {
			t.Fatal("a rescheduled deletion was claimed before it was due")
		}
		ds = claim(t2.Add(10*time.Second), time.Minute)
		if len(ds) != 1 || ds[0].LastError != "backend down" || ds[0].Attempts != 3 {
			t.Fatalf("claim of the rescheduled deletion = %v, want it with its last error at attempt 3", ds)
		}
		wantErr(t, "FinishDeletion", lc.FinishDeletion(ctx, d.ID), nil)
		wantErr(t, "FinishDeletion again", lc.FinishDeletion(ctx, d.ID), nil)
		if ds := claim(now.Add(24*time.Hour), time.Minute); len(ds) != 0 {
			t.Fatal("a finished deletion was claimed")
		}
		wantErr(t, "RetryDeletion of a finished deletion", lc.RetryDeletion(ctx, d.ID, now, "x"), store.ErrNotFound)
	})

	t.Run("concurrent sweepers expire every file and claim every deletion exactly once", func(t *testing.T) {
		s := newStore(t)
		lc := lifecycle(t, s)
		const files, sweepers = 60, 4
		for range files {
			mustCreate(t, s, pendingUntil(tenantA, now.Add(-time.Minute)))
		}
		var mu sync.Mutex
		expired := map[string]int{}
		deleted := map[int64]int{}
		var wg sync.WaitGroup
		errs := make(chan error, sweepers)
		for range sweepers {
			wg.Go(func() {
				for {
					// Every sweeper lists the same files and passes them
					// all: each is still expired once.
					listed, err := lc.ExpiringUploads(t.Context(), now, 7)
					if err != nil {
						errs <- err
						return
					}
					fs, err := lc.ExpireUploads(t.Context(), ids(listed), now, now)
					if err != nil {
						errs <- err
						return
					}
					ds, err := lc.ClaimDeletions(t.Context(), now, now.Add(time.Hour), 7)
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					for _, f := range fs {
						expired[f.ID]++
					}
					for _, d := range ds {
						deleted[d.ID]++
					}
					mu.Unlock()
					if len(fs) == 0 && len(ds) == 0 {
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
		if len(expired) != files || len(deleted) != files {
			t.Fatalf("%d files expired and %d deletions claimed, want %d of each", len(expired), len(deleted), files)
		}
		for id, n := range expired {
			if n != 1 {
				t.Errorf("file %s expired %d times", id, n)
			}
		}
		for id, n := range deleted {
			if n != 1 {
				t.Errorf("deletion %d claimed %d times", id, n)
			}
		}
	})

	t.Run("object checks claim READY files least recently checked and flag missing objects", func(t *testing.T) {
		s := newStore(t)
		lc := lifecycle(t, s)
		ctx := t.Context()
		var ready []*store.File
		for i := range 3 {
			f := newFile([]string{tenantA, tenantB}[i%2])
			f.ID = fmt.Sprintf("ready-%d", i)
			f.State = store.StateReady
			mustCreate(t, s, f)
			ready = append(ready, f)
		}
		mustCreate(t, s, newFile(tenantA)) // PENDING: never checked
		got, err := lc.ClaimObjectChecks(ctx, now, now, 2)
		wantErr(t, "ClaimObjectChecks", err, nil)
		if !slices.Equal(ids(got), []string{"ready-0", "ready-1"}) {
			t.Fatalf("first claim = %v, want ready-0 and ready-1", ids(got))
		}
		got, _ = lc.ClaimObjectChecks(ctx, now, now, 2)
		if !slices.Equal(ids(got), []string{"ready-2"}) {
			t.Fatalf("second claim = %v, want ready-2, the one never checked", ids(got))
		}
		if got, _ = lc.ClaimObjectChecks(ctx, now, now, 10); len(got) != 0 {
			t.Fatalf("claim with every file checked at the cutoff = %v, want none", ids(got))
		}
		if got, _ = lc.ClaimObjectChecks(ctx, now.Add(time.Second), now.Add(time.Second), 10); len(got) != 3 {
			t.Fatalf("claim after the cutoff moved = %v, want all 3 READY files", ids(got))
		}

		f := ready[1]
		wantErr(t, "SetObjectMissing", lc.SetObjectMissing(ctx, f.Tenant, f.ID, true, now), nil)
		wantErr(t, "SetObjectMissing again", lc.SetObjectMissing(ctx, f.Tenant, f.ID, true, now.Add(time.Hour)), nil)
		if g := mustGet(t, s, f.Tenant, f.ID); !g.ObjectMissingSince.Equal(storedTime(now)) {
			t.Fatalf("ObjectMissingSince = %s, want the first sighting %s", fmtTime(g.ObjectMissingSince), fmtTime(now))
		}
		renamed, err := s.UpdateFile(ctx, f.Tenant, f.ID, func(f *store.File) error { f.DisplayName = "renamed"; return nil })
		wantErr(t, "UpdateFile", err, nil)
		if !renamed.ObjectMissingSince.Equal(storedTime(now)) || !mustGet(t, s, f.Tenant, f.ID).ObjectMissingSince.Equal(storedTime(now)) {
			t.Fatal("UpdateFile lost ObjectMissingSince")
		}
		if g := mustGet(t, s, ready[0].Tenant, ready[0].ID); !g.ObjectMissingSince.IsZero() {
			t.Fatalf("another file was flagged: %s", fmtTime(g.ObjectMissingSince))
		}
		wantErr(t, "SetObjectMissing(false)", lc.SetObjectMissing(ctx, f.Tenant, f.ID, false, now), nil)
		if g := mustGet(t, s, f.Tenant, f.ID); !g.ObjectMissingSince.IsZero() {
			t.Fatalf("ObjectMissingSince = %s after the object came back, want zero", fmtTime(g.ObjectMissingSince))
		}
		err = lc.SetObjectMissing(ctx, tenantA, "missing", true, now)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("SetObjectMissing of a missing file: %v", err)
		}
	})
}
