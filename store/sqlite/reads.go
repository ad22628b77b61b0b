package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// readStatements holds the read queries prepared on the reader pool, so
// each reader connection parses a query once rather than on every call:
// parsing a SELECT of a file's two dozen columns cost about a quarter of
// a GetFile. database/sql prepares a statement again on each connection
// it runs on, and forgets it with the connection. ListFiles builds its
// queries from the filters given, which makes a bounded set; past
// maxReadStatements distinct queries, the rest run unprepared.
type readStatements struct {
	db    *sql.DB
	mu    sync.RWMutex
	stmts map[string]*sql.Stmt
}

const maxReadStatements = 256

func newReadStatements(db *sql.DB) *readStatements {
	return &readStatements{db: db, stmts: map[string]*sql.Stmt{}}
}

// prepared returns query prepared, or nil when it cannot be kept.
func (r *readStatements) prepared(ctx context.Context, query string) *sql.Stmt {
	r.mu.RLock()
	st, ok := r.stmts[query]
	full := len(r.stmts) >= maxReadStatements
	r.mu.RUnlock()
	if ok {
		return st
	}
	if full {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if st, ok := r.stmts[query]; ok {
		return st
	}
	st, err := r.db.PrepareContext(ctx, query)
	if err != nil {
		// Run unprepared: the query itself reports the error.
		return nil
	}
	r.stmts[query] = st
	return st
}

// queryRow runs a query expected to return at most one row on a reader.
func (s *Store) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if st := s.reads.prepared(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return s.reader.QueryRowContext(ctx, query, args...)
}

// query runs a query on a reader.
func (s *Store) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := s.reads.prepared(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return s.reader.QueryContext(ctx, query, args...)
}
