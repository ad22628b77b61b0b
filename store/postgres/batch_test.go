package postgres_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/presignd/presignd/internal/testenv"
	"github.com/presignd/presignd/store"
	"github.com/presignd/presignd/store/postgres"
	"github.com/presignd/presignd/store/storetest"
)

func TestGroupCommit(t *testing.T) {
	storetest.RunGroupCommit(t, storetest.GroupCommitHarness{
		NewStore:    func(t *testing.T) store.Store { return openTemp(t) },
		BeforeBatch: func(s store.Store, fn func(int)) { postgres.SetBeforeBatch(s.(*postgres.Store), fn) },
		Queued:      func(s store.Store) int { return postgres.QueuedCreates(s.(*postgres.Store)) },
		Writers:     postgres.Writers,
	})
}

// TestGroupCommitOwnFailure: a create whose statement the server refuses
// (a display name with a NUL byte, which text cannot hold) fails alone;
// the creates batched with it are stored.
func TestGroupCommitOwnFailure(t *testing.T) {
	s := openTemp(t)
	// Every writer is held on a batch of its own while the creates queue.
	var mu sync.Mutex
	var sizes []int
	held, release := make(chan struct{}, postgres.Writers), make(chan struct{})
	releaseOnce := sync.OnceFunc(func() { close(release) })
	t.Cleanup(releaseOnce)
	postgres.SetBeforeBatch(s, func(n int) {
		mu.Lock()
		sizes = append(sizes, n)
		wait := len(sizes) <= postgres.Writers
		mu.Unlock()
		if wait {
			held <- struct{}{}
			<-release
		}
	})
	file := func(name string) *store.File {
		id := uuid.NewString()
		return &store.File{ID: id, Tenant: "t", Category: "default", Filename: id, Key: "t/" + id,
			Backend: "local", State: store.StatePending, DisplayName: name}
	}
	blockers := make(chan error, postgres.Writers)
	for range postgres.Writers {
		go func() { blockers <- s.CreateFile(t.Context(), file("blocker"), store.Quota{}) }()
		<-held
	}
	files := []*store.File{file("a"), file("bad\x00name"), file("b")}
	errs := make([]error, len(files))
	var wg sync.WaitGroup
	for i, f := range files {
		wg.Go(func() { errs[i] = s.CreateFile(t.Context(), f, store.Quota{}) })
		testenv.WaitFor(t, "create queued", func() bool { return postgres.QueuedCreates(s) == i+1 })
	}
	releaseOnce()
	wg.Wait()
	for range postgres.Writers {
		if err := <-blockers; err != nil {
			t.Fatal(err)
		}
	}
	if errs[1] == nil || errors.Is(errs[1], store.ErrUnavailable) {
		t.Errorf("the NUL name: %v, want its own error", errs[1])
	}
	for _, i := range []int{0, 2} {
		if errs[i] != nil {
			t.Errorf("create %d batched with the refused one: %v", i, errs[i])
		}
		if _, err := s.GetFile(t.Context(), "t", files[i].ID); err != nil {
			t.Errorf("create %d: %v", i, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sizes) != postgres.Writers+1 || sizes[postgres.Writers] != 3 {
		t.Errorf("batch sizes %v, want one of 1 per writer, then 3", sizes)
	}
}

func TestCollector(t *testing.T) {
	s := openTemp(t)
	storetest.CheckCommitMetrics(t, s, s.Collector(), "postgres")
}
