package sqlite_test

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/presignd/presignd/store"
	"github.com/presignd/presignd/store/sqlite"
	"github.com/presignd/presignd/store/storetest"
)

// BenchmarkListFiles runs storetest.BenchmarkListFilesAt at each size of
// storetest.BenchListSizes, on a database seeded with INSERT ... SELECT
// over a recursive CTE and analysed.
func BenchmarkListFiles(b *testing.B) {
	for _, n := range storetest.BenchListSizes() {
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			storetest.BenchmarkListFilesAt(b, openSeeded(b, n), n)
		})
	}
}

// openSeeded opens a store on a new database seeded by seedBench with n
// files; the store is closed when b ends.
func openSeeded(b *testing.B, n int) *sqlite.Store {
	b.Helper()
	path := filepath.Join(b.TempDir(), "presignd.db")
	s, err := sqlite.Open(b.Context(), sqlite.Config{Path: path})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	start := time.Now()
	seedBench(b, path, n)
	b.Logf("seeded %d rows in %s", n+n/10, time.Since(start).Round(time.Millisecond))
	return s
}

// seedBench inserts the rows storetest.BenchmarkListFilesAt expects, and
// n/10 files of another tenant.
func seedBench(b *testing.B, path string, n int) {
	b.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	words, _ := json.Marshal(storetest.BenchWords)
	insert := `WITH RECURSIVE seq(i) AS (SELECT ?3 UNION ALL SELECT i + 1 FROM seq WHERE i + 1 < ?4),
		x AS (SELECT i, printf('bench-%09d', i) AS id,
			'file ' || i || ' ' || json_extract(?2, '$[' || (i % 10) || ']') AS name,
			?5 + i * 1000 AS at FROM seq)
		INSERT INTO files (id, tenant, category, display_name, name_fold, name_scope, filename,
			object_key, backend, content_type, size_bytes, checksum_algorithm, checksum_value, etag, state,
			failure_reason, request_id, request_hash, upload_count, created_at, updated_at, completed_at)
		SELECT id, ?1, 'documents', name, lower(name), '', id || '.pdf', ?1 || '/documents/' || id || '.pdf',
			'local', 'application/pdf', 1000 + i, '', '', '', 'READY', '', '', '', 1, at, at, at FROM x`
	base := storetest.BenchBase.UnixMicro()
	if _, err := db.ExecContext(b.Context(), insert, storetest.BenchTenant, string(words), 0, n, base); err != nil {
		b.Fatalf("seed: %v", err)
	}
	if _, err := db.ExecContext(b.Context(), insert, storetest.BenchOtherTenant, string(words), n, n+n/10, base); err != nil {
		b.Fatalf("seed other tenant: %v", err)
	}
	// Rows written with plain SQL reach the name search indexes only by a
	// rebuild (migration 0007).
	for _, index := range []string{"files_name_fts", "files_name_words"} {
		if _, err := db.ExecContext(b.Context(), `INSERT INTO `+index+` (`+index+`) VALUES ('rebuild')`); err != nil {
			b.Fatalf("rebuild %s: %v", index, err)
		}
	}
	if _, err := db.ExecContext(b.Context(), `ANALYZE`); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkCreateFileWithQuota measures CreateFile with a tenant and a
// scope quota on a tenant that already holds n READY files (1k, 100k, and
// 1M with PRESIGND_BENCH_1M): the quota check must not grow with n.
func BenchmarkCreateFileWithQuota(b *testing.B) {
	for _, n := range storetest.BenchListSizes() {
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			s := openSeeded(b, n)
			quota := store.Quota{MaxBytes: 1 << 50, ScopeMaxBytes: 1 << 50}
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				i++
				f := &store.File{ID: fmt.Sprintf("quota-%d", i), Tenant: storetest.BenchTenant, Category: "documents",
					State: store.StatePending, SizeBytes: 1, UploadExpires: time.Now().Add(time.Hour)}
				if err := s.CreateFile(b.Context(), f, quota); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
