package postgres_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/presignd/presignd/store/postgres"
	"github.com/presignd/presignd/store/storetest"
)

// BenchmarkListFiles runs storetest.BenchmarkListFilesAt at each size of
// storetest.BenchListSizes, on a schema seeded with INSERT ... SELECT over
// generate_series and analysed.
func BenchmarkListFiles(b *testing.B) {
	for _, n := range storetest.BenchListSizes() {
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			uri := testURI(b)
			schema := tempSchema(b, uri)
			s, err := postgres.Open(b.Context(), postgres.Config{URI: uri, Schema: schema})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			start := time.Now()
			seedBench(b, uri, schema, n)
			b.Logf("seeded %d rows in %s", n+n/10, time.Since(start).Round(time.Millisecond))
			storetest.BenchmarkListFilesAt(b, s, n)
		})
	}
}

// seedBench inserts the rows storetest.BenchmarkListFilesAt expects into
// schema, and n/10 files of another tenant.
func seedBench(b *testing.B, uri, schema string, n int) {
	b.Helper()
	ctx := b.Context()
	conn, err := pgx.Connect(ctx, uri)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `SET search_path TO `+pgx.Identifier{schema}.Sanitize()); err != nil {
		b.Fatal(err)
	}
	insert := `INSERT INTO files (id, tenant, category, display_name, name_fold, name_scope, filename,
		object_key, backend, content_type, size_bytes, checksum_algorithm, checksum_value, etag, state,
		failure_reason, request_id, request_hash, upload_count, created_at, updated_at, completed_at)
		SELECT id, $1, 'documents', name, lower(name), '', id || '.pdf', $1 || '/documents/' || id || '.pdf',
			'local', 'application/pdf', 1000 + i, '', '', '', 'READY', '', '', '', 1, at, at, at
		FROM generate_series($3::int, $4::int - 1) AS i,
			LATERAL (SELECT 'bench-' || lpad(i::text, 9, '0') AS id,
				'file ' || i || ' ' || ($2::text[])[i % 10 + 1] AS name,
				$5::timestamptz + i * interval '1 millisecond' AS at) AS x`
	if _, err := conn.Exec(ctx, insert, storetest.BenchTenant, storetest.BenchWords, 0, n, storetest.BenchBase); err != nil {
		b.Fatalf("seed: %v", err)
	}
	if _, err := conn.Exec(ctx, insert, storetest.BenchOtherTenant, storetest.BenchWords, n, n+n/10, storetest.BenchBase); err != nil {
		b.Fatalf("seed other tenant: %v", err)
	}
	if _, err := conn.Exec(ctx, `ANALYZE files`); err != nil {
		b.Fatal(err)
	}
}
