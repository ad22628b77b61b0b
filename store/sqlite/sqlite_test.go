package sqlite_test

import (
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

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
		other, err := sql.Open("sqlite", path)
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
			files, _, err := s.ListFiles(ctx, "t", store.ListOptions{NameContains: "RARE REP", Limit: 10})
			if err != nil || len(files) != 1 || files[0].ID != "old-010" {
				t.Fatalf("%s: ListFiles = %v, %v; want old-010", when, files, err)
			}
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
}
