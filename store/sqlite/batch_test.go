package sqlite_test

import (
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/presignd/presignd/internal/testenv"
	"github.com/presignd/presignd/store"
	"github.com/presignd/presignd/store/sqlite"
	"github.com/presignd/presignd/store/storetest"
)

// writerGate holds the CreateFile writer on its first batch until opened,
// and records the size of every batch.
type writerGate struct {
	mu    sync.Mutex
	sizes []int
	held  chan struct{}
	open  chan struct{}
	once  sync.Once
}

func holdWriter(s *sqlite.Store) *writerGate {
	g := &writerGate{held: make(chan struct{}), open: make(chan struct{})}
	first := true
	sqlite.SetBeforeBatch(s, func(n int) {
		g.mu.Lock()
		g.sizes = append(g.sizes, n)
		wait := first
		first = false
		g.mu.Unlock()
		if wait {
			close(g.held)
			<-g.open
		}
	})
	return g
}

func (g *writerGate) release() { g.once.Do(func() { close(g.open) }) }

func (g *writerGate) batchSizes() []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.sizes)
}

// queueBatch holds the writer on a batch of its own, queues calls one after
// the other (each waits until the one before is queued), releases the
// writer and returns the calls' errors, in order. The calls are meant to be
// applied together in the next batch.
func queueBatch(t *testing.T, s *sqlite.Store, g *writerGate, calls []func() error) []error {
	t.Helper()
	blocker := make(chan error, 1)
	go func() { blocker <- s.CreateFile(t.Context(), plainFile(), store.Quota{}) }()
	<-g.held
	errs := make([]error, len(calls))
	var wg sync.WaitGroup
	for i, call := range calls {
		wg.Go(func() { errs[i] = call() })
		testenv.WaitFor(t, fmt.Sprintf("call %d queued", i), func() bool { return sqlite.QueuedCreates(s) == i+1 })
	}
	g.release()
	wg.Wait()
	if err := <-blocker; err != nil {
		t.Fatalf("the create holding the writer: %v", err)
	}
	return errs
}

func plainFile() *store.File {
	id := uuid.NewString()
	return &store.File{ID: id, Tenant: "t", Category: "default", Filename: id, Key: "t/" + id,
		Backend: "local", State: store.StatePending}
}

func openTempAt(t *testing.T) (*sqlite.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "presignd.db")
	s, err := sqlite.Open(t.Context(), sqlite.Config{Path: path})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func TestGroupCommit(t *testing.T) {
	t.Run("a failing commit fails every caller of its batch and stores none of it", func(t *testing.T) {
		s, path := openTempAt(t)
		ctx := t.Context()
		existing := plainFile()
		if err := s.CreateFile(ctx, existing, store.Quota{}); err != nil {
			t.Fatal(err)
		}
		// A deferred foreign key that a file named "poison" breaks: its
		// insert succeeds, and the COMMIT of its batch fails.
		db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.ExecContext(ctx, `
			CREATE TABLE poison_parent (id TEXT PRIMARY KEY);
			CREATE TABLE poison_child (parent TEXT REFERENCES poison_parent (id) DEFERRABLE INITIALLY DEFERRED);
			CREATE TRIGGER poison AFTER INSERT ON files WHEN new.display_name = 'poison' BEGIN
				INSERT INTO poison_child VALUES ('missing');
			END;`); err != nil {
			t.Fatal(err)
		}
		g := holdWriter(s)
		poison := plainFile()
		poison.DisplayName = "poison"
		dup := plainFile()
		dup.ID = existing.ID
		batch := []*store.File{plainFile(), dup, poison, plainFile()}
		fns := make([]func() error, len(batch))
		for i, f := range batch {
			fns[i] = func() error { return s.CreateFile(ctx, f, store.Quota{}) }
		}
		errs := queueBatch(t, s, g, fns)
		if sizes := g.batchSizes(); !slices.Equal(sizes, []int{1, len(batch)}) {
			t.Fatalf("batch sizes %v, want [1 %d]", sizes, len(batch))
		}
		if !errors.Is(errs[1], store.ErrAlreadyExists) {
			t.Errorf("the duplicate: %v, want its own ErrAlreadyExists", errs[1])
		}
		for _, i := range []int{0, 2, 3} {
			if errs[i] == nil || errors.Is(errs[i], store.ErrAlreadyExists) {
				t.Errorf("call %d: %v, want the failed commit", i, errs[i])
			}
			if _, err := s.GetFile(ctx, "t", batch[i].ID); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("call %d's file after the failed commit: %v, want ErrNotFound", i, err)
			}
		}
		// The writer goes on: the failed transaction was rolled back.
		after := plainFile()
		if err := s.CreateFile(ctx, after, store.Quota{}); err != nil {
			t.Fatalf("CreateFile after the failed commit: %v", err)
		}
		if _, err := s.UpdateFile(ctx, "t", after.ID, func(f *store.File) error { f.State = store.StateReady; return nil }); err != nil {
			t.Fatalf("UpdateFile after the failed commit: %v", err)
		}
	})

	t.Run("creates queued when the store closes fail with ErrUnavailable or are stored", func(t *testing.T) {
		s, path := openTempAt(t)
		g := holdWriter(s)
		blocker := make(chan error, 1)
		go func() { blocker <- s.CreateFile(t.Context(), plainFile(), store.Quota{}) }()
		<-g.held
		queued := make([]*store.File, 5)
		errs := make([]error, len(queued))
		var wg sync.WaitGroup
		for i := range queued {
			queued[i] = plainFile()
			wg.Go(func() { errs[i] = s.CreateFile(t.Context(), queued[i], store.Quota{}) })
		}
		testenv.WaitFor(t, "every create queued", func() bool { return sqlite.QueuedCreates(s) == len(queued) })
		closed := make(chan error, 1)
		go func() { closed <- s.Close() }()
		// Whether Close stops the writer before or after it takes the
		// queued creates, each one is either stored or refused with
		// ErrUnavailable (groupcommit's tests hold the order fixed).
		testenv.WaitFor(t, "Close begun", func() bool { return sqlite.Closed(s) })
		g.release()
		wg.Wait()
		if err := <-blocker; err != nil {
			t.Fatalf("the batch being applied at Close: %v", err)
		}
		if err := <-closed; err != nil {
			t.Fatalf("Close: %v", err)
		}
		again, err := sqlite.Open(t.Context(), sqlite.Config{Path: path})
		if err != nil {
			t.Fatal(err)
		}
		defer again.Close()
		for i, f := range queued {
			_, getErr := again.GetFile(t.Context(), "t", f.ID)
			switch {
			case errs[i] == nil && getErr != nil:
				t.Errorf("create %d succeeded, but its file: %v", i, getErr)
			case errs[i] != nil && !errors.Is(errs[i], store.ErrUnavailable):
				t.Errorf("create %d: %v, want nil or ErrUnavailable", i, errs[i])
			case errs[i] != nil && getErr == nil:
				t.Errorf("create %d failed (%v), but its file is stored", i, errs[i])
			}
		}
	})
}

// TestGroupCommitConformance: creates applied together each get their own
// outcome (storetest.RunGroupCommit), and the name indexer lists exactly
// the files stored, which it then indexes.
func TestGroupCommitConformance(t *testing.T) {
	var s *sqlite.Store
	var path string
	storetest.RunGroupCommit(t, storetest.GroupCommitHarness{
		NewStore: func(t *testing.T) store.Store {
			s, path = openTempAt(t)
			sqlite.PauseNameIndexer(s)
			return s
		},
		BeforeBatch: func(s store.Store, fn func(int)) { sqlite.SetBeforeBatch(s.(*sqlite.Store), fn) },
		Queued:      func(s store.Store) int { return sqlite.QueuedCreates(s.(*sqlite.Store)) },
	})
	ctx := t.Context()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var files, listed, stored int
	if err := db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM files), (SELECT count(*) FROM files_name_unindexed),
		(SELECT count(*) FROM files_name_unindexed AS u JOIN files AS f ON f.rowid = u.file_rowid)`).Scan(&files, &listed, &stored); err != nil {
		t.Fatal(err)
	}
	if listed != files || stored != files {
		t.Errorf("files_name_unindexed lists %d files, %d of them stored; want the %d stored", listed, stored, files)
	}
	if err := sqlite.IndexNames(ctx, s); err != nil {
		t.Fatal(err)
	}
	for _, index := range []string{"files_name_fts", "files_name_words"} {
		// rank 1: checked against the content of files too.
		if _, err := db.ExecContext(ctx, `INSERT INTO `+index+` (`+index+`, rank) VALUES ('integrity-check', 1)`); err != nil {
			t.Errorf("%s integrity-check: %v", index, err)
		}
	}
}

func TestCollector(t *testing.T) {
	s := openTemp(t)
	storetest.CheckCommitMetrics(t, s, s.Collector(), "sqlite")
}
