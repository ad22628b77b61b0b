package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/presignd/presignd/internal/testenv"
	"github.com/presignd/presignd/store"
	"github.com/presignd/presignd/store/postgres"
	"github.com/presignd/presignd/store/storetest"
)

const uriEnv = "PRESIGND_TEST_POSTGRES_URI"

// testURI returns the test server's URI, or skips tb when none is set.
func testURI(tb testing.TB) string {
	tb.Helper()
	return testenv.Get(tb, uriEnv, "set it to a PostgreSQL URI, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable, to run the Postgres store tests")
}

// tempSchema returns a new schema name that is dropped when tb ends.
func tempSchema(tb testing.TB, uri string) string {
	tb.Helper()
	b := make([]byte, 8)
	rand.Read(b)
	schema := "presignd_test_" + hex.EncodeToString(b)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, uri)
		if err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

// openTemp opens a store on a new schema of the test server; the store is
// closed and the schema dropped when tb ends.
func openTemp(tb testing.TB) *postgres.Store {
	tb.Helper()
	uri := testURI(tb)
	schema := tempSchema(tb, uri) // registered first, so it runs after Close
	s, err := postgres.Open(tb.Context(), postgres.Config{URI: uri, Schema: schema})
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
		uri := testURI(t)
		schema := tempSchema(t, uri)
		s, err := postgres.Open(t.Context(), postgres.Config{URI: uri, Schema: schema, Events: events})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func BenchmarkOutbox(b *testing.B) {
	storetest.RunOutboxBenchmarks(b, func(b *testing.B, events bool) store.Store {
		uri := testURI(b)
		s, err := postgres.Open(b.Context(), postgres.Config{URI: uri, Schema: tempSchema(b, uri), Events: events})
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
	t.Run("the pool holds 16 connections unless the URI sets pool_max_conns", func(t *testing.T) {
		uri := testURI(t)
		schema := tempSchema(t, uri)
		sep := "?"
		if strings.Contains(uri, "?") {
			sep = "&"
		}
		for u, want := range map[string]int32{uri: 16, uri + sep + "pool_max_conns=3": 3} {
			s, err := postgres.Open(t.Context(), postgres.Config{URI: u, Schema: schema})
			if err != nil {
				t.Fatalf("Open(%s): %v", u, err)
			}
			if got := postgres.MaxConns(s); got != want {
				t.Errorf("Open(%s): pool of %d connections, want %d", u, got, want)
			}
			s.Close()
		}
	})
	t.Run("replicas opening one schema together all succeed and migrate it once", func(t *testing.T) {
		uri := testURI(t)
		schema := tempSchema(t, uri)
		const replicas = 5
		stores := make([]*postgres.Store, replicas)
		errs := make([]error, replicas)
		var wg sync.WaitGroup
		for i := range replicas {
			wg.Go(func() {
				stores[i], errs[i] = postgres.Open(t.Context(), postgres.Config{URI: uri, Schema: schema})
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("replica %d: Open: %v", i, err)
			}
			defer stores[i].Close()
		}
		f := &store.File{ID: "file-1", Tenant: "t", State: store.StateReady}
		if err := stores[0].CreateFile(t.Context(), f, store.Quota{}); err != nil {
			t.Fatalf("CreateFile on replica 0: %v", err)
		}
		if _, err := stores[replicas-1].GetFile(t.Context(), "t", "file-1"); err != nil {
			t.Fatalf("GetFile on replica %d: %v", replicas-1, err)
		}
		conn, err := pgx.Connect(t.Context(), uri)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		var n int
		if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM `+pgx.Identifier{schema, "schema_migrations"}.Sanitize()).Scan(&n); err != nil {
			t.Fatal(err)
		}
		versions, err := postgres.MigrationVersions()
		if err != nil {
			t.Fatal(err)
		}
		if n != len(versions) {
			t.Fatalf("schema_migrations has %d rows, want %d", n, len(versions))
		}
	})

	t.Run("a schema at each earlier version upgrades and keeps its files", func(t *testing.T) {
		uri := testURI(t)
		versions, err := postgres.MigrationVersions()
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range versions[:len(versions)-1] {
			t.Run(fmt.Sprintf("from version %d", v), func(t *testing.T) {
				ctx := t.Context()
				cfg := postgres.Config{URI: uri, Schema: tempSchema(t, uri)}
				old, err := postgres.OpenThrough(ctx, cfg, v)
				if err != nil {
					t.Fatalf("Open at version %d: %v", v, err)
				}
				old.Close()
				// A file as the first schema knows it, written with plain SQL.
				conn, err := pgx.Connect(ctx, uri)
				if err != nil {
					t.Fatal(err)
				}
				created := time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC)
				_, err = conn.Exec(ctx, `INSERT INTO `+pgx.Identifier{cfg.Schema, "files"}.Sanitize()+` (id, tenant,
					category, display_name, name_fold, name_scope, filename, object_key, backend, content_type,
					size_bytes, checksum_algorithm, checksum_value, etag, state, failure_reason, request_id,
					request_hash, upload_count, created_at, updated_at)
					VALUES ('old-1', 't', 'default', 'report', 'report', 'app-1', 'r.bin', 't/r.bin', 'local',
					'application/octet-stream', 7, '', '', '', 'READY', '', 'req-old', '', 1, $1, $1)`, created)
				conn.Close(context.Background())
				if err != nil {
					t.Fatalf("insert at version %d: %v", v, err)
				}
				s, err := postgres.Open(ctx, cfg)
				if err != nil {
					t.Fatalf("Open with the current migrations: %v", err)
				}
				defer s.Close()
				storetest.CheckUpgraded(t, s, created)
			})
		}
	})

	t.Run("a schema migrated under the earlier numbering opens, keeps its files and gets what it lacks", func(t *testing.T) {
		// testdata/migrations-v1 are the migrations as releases before the
		// drivers shared one numbering applied and recorded them (0005 was
		// the word index, 0006 the READY-bytes counters, 0007 the watched
		// keys).
		ctx := t.Context()
		uri := testURI(t)
		cfg := postgres.Config{URI: uri, Schema: tempSchema(t, uri)}
		conn, err := pgx.Connect(ctx, uri)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		schema := pgx.Identifier{cfg.Schema}.Sanitize()
		if _, err := conn.Exec(ctx, `CREATE SCHEMA `+schema+`; SET search_path TO `+schema+`;
			CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, name text NOT NULL,
				applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			t.Fatal(err)
		}
		old, err := filepath.Glob("testdata/migrations-v1/*.sql")
		if err != nil || len(old) != 7 {
			t.Fatalf("the earlier migrations: %v, %v", old, err)
		}
		for i, path := range old {
			sql, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := conn.Exec(ctx, string(sql)); err != nil {
				t.Fatalf("apply %s: %v", path, err)
			}
			if _, err := conn.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, i+1, filepath.Base(path)); err != nil {
				t.Fatal(err)
			}
		}
		created := time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC)
		if _, err := conn.Exec(ctx, `INSERT INTO files (id, tenant, category, display_name, name_fold, name_scope,
			filename, object_key, backend, content_type, size_bytes, checksum_algorithm, checksum_value, etag, state,
			failure_reason, request_id, request_hash, upload_count, created_at, updated_at)
			VALUES ('old-1', 't', 'default', 'report', 'report', 'app-1', 'r.bin', 't/r.bin', 'local',
			'application/octet-stream', 7, '', '', '', 'READY', '', 'req-old', '', 1, $1, $1)`, created); err != nil {
			t.Fatal(err)
		}
		s, err := postgres.Open(ctx, cfg)
		if err != nil {
			t.Fatalf("Open with the current migrations: %v", err)
		}
		defer s.Close()
		storetest.CheckUpgraded(t, s, created)
		rows, err := conn.Query(ctx, `SELECT version, name FROM schema_migrations ORDER BY version`)
		if err != nil {
			t.Fatal(err)
		}
		recorded, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (string, error) {
			var v int64
			var name string
			err := row.Scan(&v, &name)
			return fmt.Sprintf("%d %s", v, name), err
		})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"1 0001_init.sql", "2 0002_api_key_categories.sql", "3 0003_file_scopes.sql",
			"4 0004_lifecycle.sql", "5 0005_name_search.sql", "6 0006_name_words.sql", "8 0008_ready_bytes.sql",
			"9 0009_defer_name_indexing.sql", "10 0010_watched_keys.sql", "11 0011_api_key_parents.sql",
			"12 0012_multipart.sql", "13 0013_events.sql", "14 0014_detected_content_type.sql", "15 0015_scanning.sql",
			"16 0016_thumbnails.sql", "17 0017_deny_entries.sql", "18 0018_uploader_dedupe_retention.sql",
			"20 0020_size_unknown.sql"}
		if !slices.Equal(recorded, want) {
			t.Errorf("schema_migrations = %q, want %q", recorded, want)
		}
		var triggers int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_trigger WHERE tgrelid = 'files'::regclass AND tgname LIKE 'files_ready_bytes%'`).Scan(&triggers); err != nil || triggers != 3 {
			t.Errorf("READY-bytes triggers: %d, %v; want the 3 of migration 0009", triggers, err)
		}
	})

	t.Run("a schema name that needs quoting works", func(t *testing.T) {
		uri := testURI(t)
		schema := tempSchema(t, uri) + ` Mixed"Case`
		t.Cleanup(func() {
			conn, err := pgx.Connect(context.Background(), uri)
			if err == nil {
				conn.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`)
				conn.Close(context.Background())
			}
		})
		s, err := postgres.Open(t.Context(), postgres.Config{URI: uri, Schema: schema})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer s.Close()
		if err := s.CreateFile(t.Context(), &store.File{ID: "x", Tenant: "t", State: store.StatePending}, store.Quota{}); err != nil {
			t.Fatalf("CreateFile: %v", err)
		}
	})

	t.Run("a malformed URI is an error but not ErrUnavailable", func(t *testing.T) {
		_, err := postgres.Open(t.Context(), postgres.Config{URI: "postgres://%zz"})
		if err == nil || errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("Open: %v, want a configuration error", err)
		}
	})

	t.Run("an unreachable server is ErrUnavailable", func(t *testing.T) {
		// Port 1 on the loopback interface refuses connections.
		_, err := postgres.Open(t.Context(), postgres.Config{URI: "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=2"})
		if !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("Open: %v, want ErrUnavailable", err)
		}
	})
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
}
