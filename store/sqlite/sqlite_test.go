package sqlite_test

import (
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/presignd/presignd/internal/testenv"
	"github.com/presignd/presignd/store"
	"github.com/presignd/presignd/store/sqlite"
	"github.com/presignd/presignd/store/storetest"
)

// openTemp opens a store on a new database in tb's temporary directory.
func openTemp(tb testing.TB) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(tb.Context(), sqlite.Config{Path: filepath.Join(tb.TempDir(), "presignd.db")})
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t) })
}

func TestOutbox(t *testing.T) {
	storetest.RunOutbox(t, func(t *testing.T, events bool) store.Store {
		s, err := sqlite.Open(t.Context(), sqlite.Config{Path: filepath.Join(t.TempDir(), "presignd.db"), Events: events})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func BenchmarkOutbox(b *testing.B) {
	storetest.RunOutboxBenchmarks(b, func(b *testing.B, events bool) store.Store {
		s, err := sqlite.Open(b.Context(), sqlite.Config{Path: filepath.Join(b.TempDir(), "presignd.db"), Events: events})
		if err != nil {
			b.Fatalf("Open: %v", err)
		}
		b.Cleanup(func() { s.Close() })
		return s
	})
}

func BenchmarkStore(b *testing.B) {
	storetest.RunBenchmarks(b, func(b *testing.B) store.Store { return openTemp(b) })
}

func TestOpen(t *testing.T) {
	t.Run("reopening a database keeps its files and applies no migration twice", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "nested", "dir", "presignd.db")
		ctx := t.Context()
		s, err := sqlite.Open(ctx, sqlite.Config{Path: path})
		if err != nil {
			t.Fatalf("first Open: %v", err)
		}
		f := &store.File{ID: "file-1", Tenant: "t", State: store.StateReady, SizeBytes: 7}
		if err := s.CreateFile(ctx, f, store.Quota{}); err != nil {
			t.Fatalf("CreateFile: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		for range 2 {
			s, err = sqlite.Open(ctx, sqlite.Config{Path: path})
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			if _, err := s.GetFile(ctx, "t", "file-1"); err != nil {
				t.Fatalf("GetFile after reopening: %v", err)
			}
			s.Close()
		}
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		versions, err := sqlite.MigrationVersions()
		if err != nil {
			t.Fatal(err)
		}
		if n != len(versions) {
			t.Fatalf("schema_migrations has %d rows, want %d", n, len(versions))
		}
	})

	t.Run("a database at each earlier schema version upgrades and keeps its files", func(t *testing.T) {
		versions, err := sqlite.MigrationVersions()
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range versions[:len(versions)-1] {
			t.Run(fmt.Sprintf("from version %d", v), func(t *testing.T) {
				ctx := t.Context()
				cfg := sqlite.Config{Path: filepath.Join(t.TempDir(), "presignd.db")}
				old, err := sqlite.OpenThrough(ctx, cfg, v)
				if err != nil {
					t.Fatalf("Open at version %d: %v", v, err)
				}
				old.Close()
				// A file as the first schema knows it, written with plain SQL.
				db, err := sql.Open("sqlite", cfg.Path)
				if err != nil {
					t.Fatal(err)
				}
				created := time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC)
				_, err = db.ExecContext(ctx, `INSERT INTO files (id, tenant, category, display_name, name_fold,
					name_scope, filename, object_key, backend, content_type, size_bytes, checksum_algorithm,
					checksum_value, etag, state, failure_reason, request_id, request_hash, upload_count,
					created_at, updated_at)
					VALUES ('old-1', 't', 'default', 'report', 'report', 'app-1', 'r.bin', 't/r.bin', 'local',
					'application/octet-stream', 7, '', '', '', 'READY', '', 'req-old', '', 1, ?, ?)`,
					created.UnixMicro(), created.UnixMicro())
				db.Close()
				if err != nil {
					t.Fatalf("insert at version %d: %v", v, err)
				}
				s, err := sqlite.Open(ctx, cfg)
				if err != nil {
					t.Fatalf("Open with the current migrations: %v", err)
				}
				defer s.Close()
				storetest.CheckUpgraded(t, s, created)
			})
		}
	})

	for _, path := range []string{"", ":memory:", "data?mode=ro"} {
		t.Run(fmt.Sprintf("the path %q is refused", path), func(t *testing.T) {
			if s, err := sqlite.Open(t.Context(), sqlite.Config{Path: path}); err == nil {
				s.Close()
				t.Fatal("Open succeeded, want an error")
			}
		})
	}
}

func TestUnavailable(t *testing.T) {
	t.Run("calls on a closed store are ErrUnavailable", func(t *testing.T) {
		s := openTemp(t)
		s.Close()
		if _, err := s.GetFile(t.Context(), "t", "x"); !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("GetFile: %v, want ErrUnavailable", err)
		}
		if err := s.CreateFile(t.Context(), &store.File{ID: "x", Tenant: "t"}, store.Quota{}); !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("CreateFile: %v, want ErrUnavailable", err)
		}
		if err := s.Ping(t.Context()); !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("Ping: %v, want ErrUnavailable", err)
		}
	})

	t.Run("a write blocked by another process's lock past the busy timeout is ErrUnavailable", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "presignd.db")
		s, err := sqlite.Open(t.Context(), sqlite.Config{Path: path, BusyTimeout: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		// Another "process": its own connection holding the write lock.
		other, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		conn, err := other.Conn(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(t.Context(), "BEGIN IMMEDIATE"); err != nil {
			t.Fatal(err)
		}
		defer conn.ExecContext(t.Context(), "ROLLBACK")
		err = s.CreateFile(t.Context(), &store.File{ID: "x", Tenant: "t", State: store.StatePending}, store.Quota{})
		if !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("CreateFile while locked: %v, want ErrUnavailable", err)
		}
	})
}

func TestNameSearchIndex(t *testing.T) {
	t.Run("files written before the index are found through it, also after VACUUM", func(t *testing.T) {
		ctx := t.Context()
		cfg := sqlite.Config{Path: filepath.Join(t.TempDir(), "presignd.db")}
		old, err := sqlite.OpenThrough(ctx, cfg, 4)
		if err != nil {
			t.Fatalf("Open at version 4: %v", err)
		}
		old.Close()
		db, err := sql.Open("sqlite", cfg.Path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		// Enough files that a rare text is looked up in the index rather
		// than found by walking the list.
		_, err = db.ExecContext(ctx, `WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < 399)
			INSERT INTO files (id, tenant, category, display_name, name_fold, name_scope, filename, object_key,
				backend, content_type, size_bytes, checksum_algorithm, checksum_value, etag, state,
				failure_reason, request_id, request_hash, upload_count, created_at, updated_at)
			SELECT printf('old-%03d', i), 't', 'default', name, lower(name), '', 'f', 'k', 'local', 'x', 1,
				'', '', '', 'READY', '', '', '', 1, 1000 + i, 1000 + i
			FROM (SELECT i, CASE i WHEN 10 THEN 'Rare Report' ELSE 'file ' || i END AS name FROM seq)`)
		if err != nil {
			t.Fatalf("insert at version 4: %v", err)
		}
		s, err := sqlite.Open(ctx, cfg)
		if err != nil {
			t.Fatalf("Open with the current migrations: %v", err)
		}
		defer s.Close()
		find := func(when string) {
			t.Helper()
			// Looked up in the word index (the word "rep" starts), then in
			// the trigram index (no word of three letters or more).
			for _, text := range []string{"RARE REP", "ARE RE"} {
				files, _, err := s.ListFiles(ctx, "t", store.ListOptions{NameContains: text, Limit: 10})
				if err != nil || len(files) != 1 || files[0].ID != "old-010" {
					t.Fatalf("%s: ListFiles(%q) = %v, %v; want old-010", when, text, files, err)
				}
			}
			checkNameIndexes(t, s, db)
		}
		find("after the upgrade")
		for i := range 10 {
			if err := s.DeleteFile(ctx, "t", fmt.Sprintf("old-%03d", i)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.ExecContext(ctx, `VACUUM`); err != nil {
			t.Fatalf("VACUUM: %v", err)
		}
		find("after VACUUM")
	})
	t.Run("a text with a word is looked up in the word index, other text in the trigram index, and both follow renames and deletes", func(t *testing.T) {
		ctx := t.Context()
		s, db, _ := openWithSQL(t)
		base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		for i := range 300 {
			name := "file " + strconv.Itoa(i)
			if i == 10 {
				name = "Rare Report.pdf"
			}
			f := &store.File{ID: fmt.Sprintf("f-%03d", i), Tenant: "t", DisplayName: name, State: store.StateReady,
				CreatedAt: base.Add(time.Duration(i) * time.Second)}
			if err := s.CreateFile(ctx, f, store.Quota{}); err != nil {
				t.Fatal(err)
			}
		}
		wordTexts := []string{" report.", "rare rep"} // a whole word; a word's start
		trigramTexts := []string{"are re", "report"}
		for _, text := range append(wordTexts, trigramTexts...) {
			if got := searchIDs(t, s, text); !slices.Equal(got, []string{"f-010"}) {
				t.Errorf("search %q = %v, want [f-010]", text, got)
			}
		}
		checkNameIndexes(t, s, db)
		// Take the file out of one index at a time: only the texts looked
		// up in it miss the file.
		for _, index := range []string{"files_name_words", "files_name_fts"} {
			if _, err := db.ExecContext(ctx, `INSERT INTO `+index+` (`+index+`, rowid, name_fold)
				SELECT 'delete', rowid, name_fold FROM files WHERE id = 'f-010'`); err != nil {
				t.Fatal(err)
			}
			missing := wordTexts
			if index == "files_name_fts" {
				missing = trigramTexts
			}
			for _, text := range missing {
				if got := searchIDs(t, s, text); len(got) != 0 {
					t.Errorf("search %q without the file in %s = %v, want nothing", text, index, got)
				}
			}
			if _, err := db.ExecContext(ctx, `INSERT INTO `+index+` (`+index+`) VALUES ('rebuild')`); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.UpdateFile(ctx, "t", "f-010", func(f *store.File) error {
			f.DisplayName = "Summary 2025.txt"
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		for text, want := range map[string][]string{" report.": nil, "are re": nil, "summary 2025.": {"f-010"}, "ary 20": {"f-010"}} {
			if got := searchIDs(t, s, text); !slices.Equal(got, want) {
				t.Errorf("search %q after a rename = %v, want %v", text, got, want)
			}
		}
		if err := s.DeleteFile(ctx, "t", "f-010"); err != nil {
			t.Fatal(err)
		}
		for _, text := range []string{"summary 2025.", "ary 20"} {
			if got := searchIDs(t, s, text); len(got) != 0 {
				t.Errorf("search %q after a delete = %v, want nothing", text, got)
			}
		}
		checkNameIndexes(t, s, db)
	})
}

// openWithSQL opens a store on a new database file, and a database/sql
// handle of the same file for looking at its tables; t closes both.
func openWithSQL(t *testing.T) (*sqlite.Store, *sql.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "presignd.db")
	s, err := sqlite.Open(t.Context(), sqlite.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	// The store's background work (name indexer, checkpointer) may hold
	// the write lock when the test writes (an FTS5 integrity-check).
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return s, db, path
}

// searchIDs returns the ids of the first ten files of tenant "t" whose
// names hold text.
func searchIDs(t *testing.T, s *sqlite.Store, text string) []string {
	t.Helper()
	files, _, err := s.ListFiles(t.Context(), "t", store.ListOptions{NameContains: text, Limit: 10})
	if err != nil {
		t.Fatalf("ListFiles(%q): %v", text, err)
	}
	var ids []string
	for _, f := range files {
		ids = append(ids, f.ID)
	}
	return ids
}

// checkNameIndexes runs s's name indexer, then FTS5's integrity-check on
// both name indexes: each must hold exactly the words and trigrams of the
// names in files.
func checkNameIndexes(t *testing.T, s *sqlite.Store, db *sql.DB) {
	t.Helper()
	if err := sqlite.IndexNames(t.Context(), s); err != nil {
		t.Fatalf("index names: %v", err)
	}
	var waiting int
	if err := db.QueryRowContext(t.Context(), `SELECT count(*) FROM files_name_unindexed`).Scan(&waiting); err != nil || waiting != 0 {
		t.Fatalf("after indexing, %d files wait for the name indexer (%v)", waiting, err)
	}
	for _, index := range []string{"files_name_fts", "files_name_words"} {
		if _, err := db.ExecContext(t.Context(), `INSERT INTO `+index+` (`+index+`, rank) VALUES ('integrity-check', 1)`); err != nil {
			t.Errorf("%s integrity-check: %v", index, err)
		}
	}
}

func TestNameIndexer(t *testing.T) {
	ctx := t.Context()
	waiting := func(t *testing.T, db *sql.DB) int {
		t.Helper()
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM files_name_unindexed`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// seed creates enough files that a rare text is looked up in the name
	// indexes rather than found by walking the list.
	seed := func(t *testing.T, s *sqlite.Store, prefix string, n int) {
		t.Helper()
		base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		for i := range n {
			f := &store.File{ID: fmt.Sprintf("%s-%03d", prefix, i), Tenant: "t", DisplayName: "file " + strconv.Itoa(i),
				State: store.StateReady, CreatedAt: base.Add(time.Duration(i) * time.Second)}
			if err := s.CreateFile(ctx, f, store.Quota{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Run("files waiting for the indexer are found, renamed and deleted; indexed, the indexes match files", func(t *testing.T) {
		s, db, _ := openWithSQL(t)
		seed(t, s, "old", 200)
		checkNameIndexes(t, s, db)
		sqlite.PauseNameIndexer(s)
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		for i, name := range []string{"Quarterly Report.pdf", "Invoice Zeta.pdf", "Quarterly Plan.pdf"} {
			f := &store.File{ID: fmt.Sprintf("new-%d", i), Tenant: "t", DisplayName: name, State: store.StateReady,
				CreatedAt: now.Add(time.Duration(i) * time.Second)}
			if err := s.CreateFile(ctx, f, store.Quota{}); err != nil {
				t.Fatal(err)
			}
		}
		if n := waiting(t, db); n != 3 {
			t.Fatalf("%d files wait for the paused indexer, want 3", n)
		}
		if n := s.NameIndexBacklog(); n != 3 {
			t.Errorf("NameIndexBacklog = %d with 3 files waiting, want 3", n)
		}
		// Looked up in the word index, then the trigram index: the waiting
		// files are checked too.
		for text, want := range map[string][]string{"quarterly": {"new-2", "new-0"}, "nvoice ze": {"new-1"}, "arterly re": {"new-0"}} {
			if got := searchIDs(t, s, text); !slices.Equal(got, want) {
				t.Errorf("search %q before indexing = %v, want %v", text, got, want)
			}
		}
		if _, err := s.UpdateFile(ctx, "t", "new-0", func(f *store.File) error { f.DisplayName = "Annual Summary.pdf"; return nil }); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteFile(ctx, "t", "new-1"); err != nil {
			t.Fatal(err)
		}
		if n := waiting(t, db); n != 2 {
			t.Errorf("after deleting a waiting file, %d wait, want 2", n)
		}
		check := func(when string) {
			t.Helper()
			for text, want := range map[string][]string{"quarterly": {"new-2"}, "annual summ": {"new-0"}, "invoice": nil} {
				if got := searchIDs(t, s, text); !slices.Equal(got, want) {
					t.Errorf("search %q %s = %v, want %v", text, when, got, want)
				}
			}
		}
		check("after a rename and a delete while waiting")
		checkNameIndexes(t, s, db) // indexes them, with the names they have now
		check("once indexed")
		if n := s.NameIndexBacklog(); n != 0 {
			t.Errorf("NameIndexBacklog = %d once indexed, want 0", n)
		}
		if _, err := s.UpdateFile(ctx, "t", "new-2", func(f *store.File) error { f.DisplayName = "Monthly Plan.pdf"; return nil }); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteFile(ctx, "t", "new-0"); err != nil {
			t.Fatal(err)
		}
		for text, want := range map[string][]string{"quarterly": nil, "monthly plan": {"new-2"}, "annual": nil} {
			if got := searchIDs(t, s, text); !slices.Equal(got, want) {
				t.Errorf("search %q after a rename and a delete of indexed files = %v, want %v", text, got, want)
			}
		}
		checkNameIndexes(t, s, db)
	})
	t.Run("the indexer runs on its own, and after a restart for files left waiting", func(t *testing.T) {
		s, db, path := openWithSQL(t)
		awaitIndexed := func(when string) {
			t.Helper()
			deadline := time.Now().Add(10 * time.Second)
			for waiting(t, db) > 0 {
				if time.Now().After(deadline) {
					t.Fatalf("%s: %d files still wait for the indexer after 10s", when, waiting(t, db))
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		seed(t, s, "a", 5)
		awaitIndexed("after five creates")
		sqlite.PauseNameIndexer(s)
		seed(t, s, "b", 5)
		if n := waiting(t, db); n != 5 {
			t.Fatalf("%d files wait for the paused indexer, want 5", n)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s, err := sqlite.Open(ctx, sqlite.Config{Path: path})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		awaitIndexed("after a restart")
		checkNameIndexes(t, s, db)
	})
	t.Run("a failed indexing is logged and retried", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "presignd.db")
		var logged testenv.SyncBuffer
		s, err := sqlite.Open(ctx, sqlite.Config{Path: path, BusyTimeout: 50 * time.Millisecond,
			Log: slog.New(slog.NewTextHandler(&logged, nil))})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		sqlite.PauseNameIndexer(s)
		seed(t, s, "c", 3)
		// Another process holds the write lock: the indexer's BEGIN fails.
		lock, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer lock.Close()
		if _, err := lock.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
			t.Fatal(err)
		}
		sqlite.ResumeNameIndexer(s)
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(logged.String(), "name indexer failed") {
			if time.Now().After(deadline) {
				t.Fatalf("no failure logged in 10s; log: %q", logged.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
		if got := searchIDs(t, s, "file 2"); !slices.Equal(got, []string{"c-002"}) {
			t.Errorf("search while the indexer fails = %v, want [c-002]", got)
		}
		if _, err := lock.ExecContext(ctx, `ROLLBACK`); err != nil {
			t.Fatal(err)
		}
		for waiting(t, db) > 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%d files still wait for the indexer after the lock was released", waiting(t, db))
			}
			time.Sleep(10 * time.Millisecond)
		}
		checkNameIndexes(t, s, db)
	})
}

// TestEventsSurviveReopen: an event committed with its change is still
// there, unrouted, for the process that opens the database next (as after
// a crash between the commit and the delivery).
func TestEventsSurviveReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "presignd.db")
	ctx := t.Context()
	s, err := sqlite.Open(ctx, sqlite.Config{Path: path, Events: true})
	if err != nil {
		t.Fatal(err)
	}
	f := &store.File{ID: "f-1", Tenant: "t", Category: "c", Key: "t/c/f-1", Backend: "local", State: store.StatePending}
	if err := s.CreateFile(ctx, f, store.Quota{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateFile(ctx, "t", "f-1", func(f *store.File) error {
		f.State, f.CompletedBy = store.StateReady, store.CompletedByClient
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = sqlite.Open(ctx, sqlite.Config{Path: path, Events: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	es, err := s.ClaimEvents(ctx, time.Now(), time.Now().Add(time.Minute), 10)
	if err != nil || len(es) != 1 || es[0].Type != store.EventFileReady || es[0].File.CompletedBy != store.CompletedByClient {
		t.Fatalf("ClaimEvents after reopening = %v, %v; want the file.ready event", es, err)
	}
}
