package sqlite_test

import (
	"database/sql"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/presignd/presignd/store"
	"github.com/presignd/presignd/store/sqlite"
)

// TestHoldsMultipartUploadPlan checks that the sweeper's orphan check looks
// the upload up in the partial index of migration 0012 instead of
// scanning the files.
func TestHoldsMultipartUploadPlan(t *testing.T) {
	path := filepath.Join(t.TempDir(), "presignd.db")
	s, err := sqlite.Open(t.Context(), sqlite.Config{Path: path})
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
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(t.Context(), `EXPLAIN QUERY PLAN `+sqlite.HoldsMultipartUploadQuery, "local", "up-7")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(plan, "\n")
	if !strings.Contains(joined, "USING COVERING INDEX files_pending_multipart") &&
		!strings.Contains(joined, "USING INDEX files_pending_multipart") {
		t.Fatalf("HoldsMultipartUpload does not use files_pending_multipart; plan:\n%s", joined)
	}
	if strings.Contains(joined, "SCAN files") {
		t.Fatalf("HoldsMultipartUpload scans files; plan:\n%s", joined)
	}
}

// BenchmarkHoldsMultipartUpload measures the sweeper's orphan check on a
// database of 20,000 PENDING multipart uploads.
func BenchmarkHoldsMultipartUpload(b *testing.B) {
	s := openTemp(b)
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < 20000; i += 16 {
				f := &store.File{ID: "f-" + strconv.Itoa(i), Tenant: "t", Backend: "local", State: store.StatePending,
					MultipartUploadID: "up-" + strconv.Itoa(i)}
				if err := s.CreateFile(b.Context(), f, store.Quota{}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for i := 0; b.Loop(); i++ {
		held, err := s.HoldsMultipartUpload(b.Context(), "local", "up-"+strconv.Itoa(i%40000))
		if err != nil || held != (i%40000 < 20000) {
			b.Fatalf("HoldsMultipartUpload(up-%d) = %v, %v", i%40000, held, err)
		}
	}
}

// TestPendingFileByKeyPlan checks that a storage notification finds its
// upload in the partial index of migration 0013 instead of scanning the
// files.
func TestPendingFileByKeyPlan(t *testing.T) {
	path := filepath.Join(t.TempDir(), "presignd.db")
	s, err := sqlite.Open(t.Context(), sqlite.Config{Path: path})
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
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(t.Context(), `EXPLAIN QUERY PLAN `+sqlite.PendingFileByKeyQuery, "s3", "k/7")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(plan, "\n")
	if !strings.Contains(joined, "INDEX files_pending_key") || strings.Contains(joined, "SCAN files") {
		t.Fatalf("PendingFileByKey does not search files_pending_key; plan:\n%s", joined)
	}
}
