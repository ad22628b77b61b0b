package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/presignd/presignd/internal/testenv"
	"github.com/presignd/presignd/store"
)

// GroupCommitHarness opens a store whose CreateFiles share commits, with
// the hooks RunGroupCommit needs to apply chosen creates together.
type GroupCommitHarness struct {
	// NewStore returns a new, empty store, closed when t ends.
	NewStore func(t *testing.T) store.Store
	// BeforeBatch makes s call fn with the number of creates of each batch
	// before applying it; fn may block to hold the batch.
	BeforeBatch func(s store.Store, fn func(n int))
	// Queued is how many CreateFiles of s wait to be taken into a batch.
	Queued func(s store.Store) int
	// Writers is how many batches a store applies at once; 0 means 1.
	Writers int
}

// RunGroupCommit checks a store that applies concurrent CreateFiles in one
// transaction: creates applied together each get exactly their own
// outcome (a duplicate ID, request ID or name, or a quota refuses its own
// create alone) and exactly the accepted files are stored.
func RunGroupCommit(t *testing.T, h GroupCommitHarness) {
	s := h.NewStore(t)
	ctx := t.Context()
	const tenant = tenantA
	plain := func() *store.File {
		f := newFile(tenant)
		f.SizeBytes = 0
		return f
	}
	existing := plain()
	existing.NameScope, existing.DisplayName, existing.RequestID = "app", "taken", "req-old"
	existing.State, existing.SizeBytes = store.StateReady, 100
	mustCreate(t, s, existing)

	// Every writer is held on a batch of its own while the calls queue.
	writers := max(h.Writers, 1)
	var mu sync.Mutex
	var sizes []int
	held, release := make(chan struct{}, writers), make(chan struct{})
	h.BeforeBatch(s, func(n int) {
		mu.Lock()
		sizes = append(sizes, n)
		wait := len(sizes) <= writers
		mu.Unlock()
		if wait {
			held <- struct{}{}
			<-release
		}
	})
	releaseOnce := sync.OnceFunc(func() { close(release) })
	t.Cleanup(releaseOnce)

	quota := store.Quota{MaxBytes: 130} // 100 held: three more files of 10 fit
	sized := func(f *store.File) *store.File { f.SizeBytes = 10; return f }
	named := func(name string) *store.File {
		f := plain()
		f.NameScope, f.DisplayName = "app", name
		return f
	}
	withRequest := func(id string) *store.File {
		f := plain()
		f.RequestID = id
		return f
	}
	withID := func(id string) *store.File {
		f := plain()
		f.ID = id
		return f
	}
	firstFile := sized(plain())
	calls := []struct {
		f     *store.File
		quota store.Quota
		want  error // nil, or the sentinel the error must match
	}{
		{firstFile, quota, nil},
		{withID(existing.ID), store.Quota{}, store.ErrAlreadyExists},
		{named("taken"), store.Quota{}, store.ErrNameTaken},
		{sized(named("fresh")), quota, nil},
		{sized(named("fresh")), quota, store.ErrNameTaken},
		{withRequest("req-old"), store.Quota{}, store.ErrAlreadyExists},
		{withRequest("req-new"), store.Quota{}, nil},
		{withRequest("req-new"), store.Quota{}, store.ErrAlreadyExists},
		{sized(plain()), quota, nil},
		{sized(plain()), quota, store.ErrQuotaExceeded},
		{withID(firstFile.ID), store.Quota{}, store.ErrAlreadyExists},
		{plain(), store.Quota{}, nil},
	}

	blockers := make(chan error, writers)
	for range writers {
		go func() { blockers <- s.CreateFile(ctx, plain(), store.Quota{}) }()
		select {
		case <-held:
		case <-time.After(10 * time.Second):
			t.Fatal("a create never reached its batch")
		}
	}
	errs := make([]error, len(calls))
	var wg sync.WaitGroup
	for i, c := range calls {
		wg.Go(func() { errs[i] = s.CreateFile(ctx, c.f, c.quota) })
		testenv.WaitFor(t, fmt.Sprintf("call %d queued", i), func() bool { return h.Queued(s) == i+1 })
	}
	releaseOnce()
	wg.Wait()
	wantSizes := []int{}
	for range writers {
		if err := <-blockers; err != nil {
			t.Fatalf("a create holding a writer: %v", err)
		}
		wantSizes = append(wantSizes, 1)
	}
	mu.Lock()
	if wantSizes = append(wantSizes, len(calls)); !slices.Equal(sizes, wantSizes) {
		t.Fatalf("batch sizes %v, want %v: the calls were not applied together", sizes, wantSizes)
	}
	mu.Unlock()
	for i, c := range calls {
		err := errs[i]
		switch {
		case c.want == nil && err != nil:
			t.Errorf("call %d: %v, want success", i, err)
		case c.want != nil && !errors.Is(err, c.want):
			t.Errorf("call %d: %v, want %v", i, err, c.want)
		case errors.Is(c.want, store.ErrAlreadyExists) && !errors.Is(c.want, store.ErrNameTaken) && errors.Is(err, store.ErrNameTaken):
			t.Errorf("call %d: %v, want ErrAlreadyExists but not ErrNameTaken", i, err)
		case c.want == store.ErrNameTaken && errors.Is(err, store.ErrQuotaExceeded):
			t.Errorf("call %d: %v is also ErrQuotaExceeded", i, err)
		}
	}
	// Exactly the winners are stored, as they were written.
	files, _, err := s.ListFiles(ctx, tenant, store.ListOptions{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*store.File{}
	for _, f := range files {
		got[f.ID] = f
	}
	want := 1 + writers // existing and the creates that held the writers
	for i, c := range calls {
		if c.want != nil {
			continue
		}
		want++
		f, ok := got[c.f.ID]
		if !ok {
			t.Errorf("call %d succeeded but its file is not stored", i)
			continue
		}
		if f.DisplayName != c.f.DisplayName || f.RequestID != c.f.RequestID || f.SizeBytes != c.f.SizeBytes {
			t.Errorf("call %d: stored %+v, want %+v", i, f, c.f)
		}
	}
	if len(files) != want {
		t.Errorf("%d files stored, want %d", len(files), want)
	}
	u, err := s.Usage(ctx, tenant, store.UsageFilter{})
	if err != nil || u.BytesUsed+u.BytesReserved != 130 {
		t.Errorf("Usage = %+v, %v; want 130 bytes in use", u, err)
	}
}
