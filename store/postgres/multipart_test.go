package postgres_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/presignd/presignd/store"
	"github.com/presignd/presignd/store/postgres"
)

// TestHoldsMultipartUploadPlan checks that the sweeper's orphan check looks
// the upload up in the partial index of migration 0012 instead of
// scanning the files.
func TestHoldsMultipartUploadPlan(t *testing.T) {
	uri := testURI(t)
	schema := tempSchema(t, uri)
	s, err := postgres.Open(t.Context(), postgres.Config{URI: uri, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 50 {
		f := &store.File{ID: "f-" + strconv.Itoa(i), Tenant: "t", Backend: "local", State: store.StatePending,
			MultipartUploadID: "up-" + strconv.Itoa(i)}
		if err := s.CreateFile(t.Context(), f, store.Quota{}); err != nil {
			t.Fatal(err)
		}
	}
	conn := connectTo(t, uri, schema)
	// A table this small might be scanned whole instead.
	if _, err := conn.Exec(t.Context(), `ANALYZE files; SET enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(t.Context(), `EXPLAIN (COSTS OFF) `+postgres.HoldsMultipartUploadQuery, "local", "up-7")
	if err != nil {
		t.Fatal(err)
	}
	plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(plan, "\n")
	if !strings.Contains(joined, "files_pending_multipart") {
		t.Fatalf("HoldsMultipartUpload does not use files_pending_multipart; plan:\n%s", joined)
	}
}

// TestPendingFileByKeyPlan checks that a storage notification finds its
// upload in the partial index of migration 0013 instead of scanning the
// files.
func TestPendingFileByKeyPlan(t *testing.T) {
	uri := testURI(t)
	schema := tempSchema(t, uri)
	s, err := postgres.Open(t.Context(), postgres.Config{URI: uri, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 50 {
		f := &store.File{ID: "f-" + strconv.Itoa(i), Tenant: "t", Backend: "s3", Key: "k/" + strconv.Itoa(i), State: store.StatePending}
		if err := s.CreateFile(t.Context(), f, store.Quota{}); err != nil {
			t.Fatal(err)
		}
	}
	conn := connectTo(t, uri, schema)
	if _, err := conn.Exec(t.Context(), `ANALYZE files; SET enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(t.Context(), `EXPLAIN (COSTS OFF) `+postgres.PendingFileByKeyQuery, "s3", "k/7")
	if err != nil {
		t.Fatal(err)
	}
	plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if joined := strings.Join(plan, "\n"); !strings.Contains(joined, "files_pending_key") {
		t.Fatalf("PendingFileByKey does not use files_pending_key; plan:\n%s", joined)
	}
}
