package storetest

import (
	"errors"
	"fmt"
	"strings"
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

	t.Run("concurrent creates with mixed collisions each get their own outcome", func(t *testing.T) {
		s := newStore(t)
		held := newFile(tenantA) // its ID, name and request ID are taken
		held.NameScope, held.DisplayName, held.RequestID = "app-1", "held", "req-held"
		held.State, held.SizeBytes = store.StateReady, 0
		mustCreate(t, s, held)
		const size, fit = 100, 5
		quota := store.Quota{ScopeMaxBytes: fit*size + size - 1}
		const n = 5 * racers
		files := make([]*store.File, n)
		errs := make([]error, n)
		kinds := make([]int, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			f := newFile(tenantA)
			f.SizeBytes = 0
			kinds[i] = i % 5
			switch kinds[i] {
			case 0: // distinct: always stored
			case 1: // one name per group of five callers, or the held one
				f.NameScope, f.DisplayName = "app-1", fmt.Sprintf("name %d", i/25)
				if i%25 == 1 {
					f.DisplayName = "held"
				}
			case 2: // one request ID per group, or the held one
				f.RequestID = fmt.Sprintf("req %d", i/25)
				if i%25 == 2 {
					f.RequestID = "req-held"
				}
			case 3: // the held file's ID
				f.ID = held.ID
			case 4: // a scope quota that admits fit of them
				f.Scope, f.SizeBytes = "files/q", size
			}
			files[i] = f
			wg.Go(func() {
				<-start
				q := store.Quota{}
				if kinds[i] == 4 {
					q = quota
				}
				errs[i] = s.CreateFile(t.Context(), f, q)
			})
		}
		close(start)
		wg.Wait()
		wins := map[string]int{} // by what the callers contend for
		var winners []string
		for i, err := range errs {
			f := files[i]
			var lose error
			var key string
			switch kinds[i] {
			case 0:
				lose, key = nil, f.ID
			case 1:
				lose, key = store.ErrNameTaken, "name "+f.DisplayName
			case 2:
				lose, key = store.ErrAlreadyExists, "request "+f.RequestID
			case 3:
				lose, key = store.ErrAlreadyExists, "id"
			case 4:
				lose, key = store.ErrQuotaExceeded, "quota"
			}
			switch {
			case err == nil:
				wins[key]++
				winners = append(winners, f.ID)
				checkFile(t, fmt.Sprintf("caller %d's file", i), stored(f), mustGet(t, s, tenantA, f.ID))
			case lose != nil && errors.Is(err, lose):
				if kinds[i] != 1 && errors.Is(err, store.ErrNameTaken) {
					t.Errorf("caller %d: %v is ErrNameTaken", i, err)
				}
				if kinds[i] != 4 && errors.Is(err, store.ErrQuotaExceeded) {
					t.Errorf("caller %d: %v is ErrQuotaExceeded", i, err)
				}
			default:
				t.Errorf("caller %d (kind %d): unexpected error %v", i, kinds[i], err)
			}
		}
		for key, w := range wins {
			if (strings.HasPrefix(key, "name ") || strings.HasPrefix(key, "request ")) && w != 1 {
				t.Errorf("%d callers won %q, want 1", w, key)
			}
		}
		for _, key := range []string{"name held", "request req-held", "id"} {
			if wins[key] != 0 {
				t.Errorf("%d callers took %s from the held file", wins[key], key)
			}
		}
		if wins["quota"] != fit {
			t.Errorf("%d creates admitted under the quota, want %d", wins["quota"], fit)
		}
		all, _, err := s.ListFiles(t.Context(), tenantA, store.ListOptions{Limit: 1000})
		wantErr(t, "ListFiles", err, nil)
		if len(all) != len(winners)+1 {
			t.Fatalf("%d files stored, want the %d winners and the held file", len(all), len(winners))
		}
		checkFile(t, "the held file", stored(held), mustGet(t, s, tenantA, held.ID))
	})

}
