package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/presignd/presignd/store"
)

// racers is how many goroutines each concurrency test sets loose at once.
const racers = 20

// race runs fn(i) for i in [0, racers) in parallel, released together, and
// returns their errors by i.
func race(fn func(i int) error) []error {
	errs := make([]error, racers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// tally counts nil errors as wins and errors matching lose as losses; any
// other error fails t.
func tally(t *testing.T, errs []error, lose error) (wins, losses int) {
	t.Helper()
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, lose):
			losses++
		default:
			t.Errorf("racer %d: unexpected error %v (want nil or %v)", i, err, lose)
		}
	}
	return wins, losses
}

func testConcurrency(t *testing.T, newStore func(*testing.T) store.Store) {
	t.Run("of concurrent creates with one name in one scope exactly one wins", func(t *testing.T) {
		s := newStore(t)
		errs := race(func(int) error {
			f := newFile(tenantA)
			f.NameScope, f.DisplayName = "app-1", "contested"
			return s.CreateFile(t.Context(), f, store.Quota{})
		})
		if wins, losses := tally(t, errs, store.ErrNameTaken); wins != 1 || losses != racers-1 {
			t.Fatalf("%d won and %d lost with ErrNameTaken; want 1 and %d", wins, losses, racers-1)
		}
		files, _, err := s.ListFiles(t.Context(), tenantA, store.ListOptions{Limit: 100})
		wantErr(t, "ListFiles", err, nil)
		if len(files) != 1 {
			t.Fatalf("%d files stored, want 1", len(files))
		}
	})

	t.Run("of concurrent creates with one request ID exactly one wins", func(t *testing.T) {
		s := newStore(t)
		errs := race(func(int) error {
			f := newFile(tenantA)
			f.RequestID = "req-contested"
			return s.CreateFile(t.Context(), f, store.Quota{})
		})
		if wins, losses := tally(t, errs, store.ErrAlreadyExists); wins != 1 || losses != racers-1 {
			t.Fatalf("%d won and %d lost with ErrAlreadyExists; want 1 and %d", wins, losses, racers-1)
		}
	})

	t.Run("concurrent creates at the edge of the quota admit exactly as many as fit", func(t *testing.T) {
		s := newStore(t)
		const size, fit = 100, 5
		held := newFile(tenantA) // a READY file already uses part of the quota
		held.State, held.SizeBytes = store.StateReady, 3*size
		mustCreate(t, s, held)
		quota := store.Quota{MaxBytes: (3+fit)*size + size - 1}
		errs := race(func(int) error {
			f := newFile(tenantA)
			f.SizeBytes = size
			return s.CreateFile(t.Context(), f, quota)
		})
		if wins, losses := tally(t, errs, store.ErrQuotaExceeded); wins != fit || losses != racers-fit {
			t.Fatalf("%d admitted and %d refused with ErrQuotaExceeded; want %d and %d", wins, losses, fit, racers-fit)
		}
		u, err := s.Usage(t.Context(), tenantA, store.UsageFilter{})
		wantErr(t, "Usage", err, nil)
		if u.BytesReserved != fit*size {
			t.Fatalf("BytesReserved = %d, want %d", u.BytesReserved, fit*size)
		}
	})

	t.Run("concurrent creates at the edge of a scope quota admit exactly as many as fit", func(t *testing.T) {
		s := newStore(t)
		const size, fit = 100, 5
		const scope = "files/application_id=1"
		held := newFile(tenantA) // a READY file already uses part of the scope's quota
		held.Scope, held.State, held.SizeBytes = scope, store.StateReady, 3*size
		mustCreate(t, s, held)
		elsewhere := newFile(tenantA) // another scope's bytes count for nothing here
		elsewhere.Scope, elsewhere.State, elsewhere.SizeBytes = "files/application_id=2", store.StateReady, 100*size
		mustCreate(t, s, elsewhere)
		quota := store.Quota{ScopeMaxBytes: (3+fit)*size + size - 1}
		errs := race(func(int) error {
			f := newFile(tenantA)
			f.Scope, f.SizeBytes = scope, size
			return s.CreateFile(t.Context(), f, quota)
		})
		if wins, losses := tally(t, errs, store.ErrQuotaExceeded); wins != fit || losses != racers-fit {
			t.Fatalf("%d admitted and %d refused with ErrQuotaExceeded; want %d and %d", wins, losses, fit, racers-fit)
		}
		u, err := s.Usage(t.Context(), tenantA, store.UsageFilter{Scope: scope})
		wantErr(t, "Usage", err, nil)
		if u.BytesReserved != fit*size {
			t.Fatalf("BytesReserved of the scope = %d, want %d", u.BytesReserved, fit*size)
		}
	})

	t.Run("concurrent updates of one file apply one after another", func(t *testing.T) {
		s := newStore(t)
		f := newFile(tenantA)
		mustCreate(t, s, f)
		errs := race(func(int) error {
			_, err := s.UpdateFile(t.Context(), tenantA, f.ID, func(u *store.File) error {
				u.UploadCount++
				return nil
			})
			return err
		})
		for i, err := range errs {
			if err != nil {
				t.Errorf("racer %d: %v", i, err)
			}
		}
		if got := mustGet(t, s, tenantA, f.ID); got.UploadCount != racers {
			t.Fatalf("UploadCount = %d after %d increments; an update was lost", got.UploadCount, racers)
		}
	})

	t.Run("concurrent writes and reads of distinct files all succeed", func(t *testing.T) {
		s := newStore(t)
		const each = 5
		errs := race(func(i int) error {
			tenant := fmt.Sprintf("tenant-%d", i%4)
			for j := range each {
				f := newFile(tenant)
				f.NameScope, f.DisplayName = "app-1", fmt.Sprintf("file %d-%d", i, j)
				if err := s.CreateFile(t.Context(), f, store.Quota{MaxBytes: 1 << 40}); err != nil {
					return err
				}
				if _, err := s.UpdateFile(t.Context(), tenant, f.ID, func(u *store.File) error {
					u.State = store.StateReady
					return nil
				}); err != nil {
					return err
				}
				if _, _, err := s.ListFiles(t.Context(), tenant, store.ListOptions{Limit: 10}); err != nil {
					return err
				}
			}
			return nil
		})
		for i, err := range errs {
			if err != nil {
				t.Errorf("racer %d: %v", i, err)
			}
		}
		var total int64
		for i := range 4 {
			u, err := s.Usage(t.Context(), fmt.Sprintf("tenant-%d", i), store.UsageFilter{})
			wantErr(t, "Usage", err, nil)
			total += u.FileCount
		}
		if total != racers*each {
			t.Fatalf("%d READY files in all, want %d", total, racers*each)
		}
	})
}
