package sqlite

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
)

func TestReadStatements(t *testing.T) {
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r := newReadStatements(db)
	ctx := t.Context()
	first := r.prepared(ctx, "SELECT 1")
	if first == nil || r.prepared(ctx, "SELECT 1") != first {
		t.Fatalf("a query is not kept prepared: %p, then %p", first, r.prepared(ctx, "SELECT 1"))
	}
	if r.prepared(ctx, "SELECT 2") == first {
		t.Fatal("two queries share a statement")
	}
	if st := r.prepared(ctx, "SELECT FROM nowhere"); st != nil {
		t.Fatal("a query that does not parse was kept")
	}
	for i := len(r.stmts); i < maxReadStatements; i++ {
		if r.prepared(ctx, fmt.Sprintf("SELECT %d", i+100)) == nil {
			t.Fatalf("query %d was not prepared", i)
		}
	}
	if st := r.prepared(ctx, "SELECT 'one too many'"); st != nil || len(r.stmts) != maxReadStatements {
		t.Fatalf("past %d queries, one more was kept (%d kept)", maxReadStatements, len(r.stmts))
	}
	if r.prepared(ctx, "SELECT 1") != first {
		t.Fatal("a full cache lost a kept query")
	}
	// Through the Store, a query the cache cannot keep still runs.
	s := &Store{reader: db, reads: r}
	var got string
	if err := s.queryRow(ctx, "SELECT 'one too many'").Scan(&got); err != nil || got != "one too many" {
		t.Fatalf("unprepared query = %q, %v", got, err)
	}
	if err := s.queryRow(ctx, "SELECT FROM nowhere").Scan(&got); err == nil {
		t.Fatal("a query that does not parse succeeded")
	}
}
