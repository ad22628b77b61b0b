package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"sync"
)

// writeConn is the store's one write connection. It is taken from its
// pool once and held for the life of the Store, so the statements the
// writers prepare on it (the CreateFile batch's insert, BEGIN and COMMIT,
// the name indexer's) are parsed once, not once per transaction: parsing
// the insert into files, with its dozen indexes, costs about as much as
// running it. One transaction holds it at a time (acquire and release);
// a connection that database/sql reports broken is dropped with its
// statements and a new one is taken by the next acquire.
type writeConn struct {
	mu    sync.Mutex
	db    *sql.DB // one connection
	conn  *sql.Conn
	stmts map[string]*sql.Stmt
}

func newWriteConn(db *sql.DB) *writeConn {
	return &writeConn{db: db}
}

// acquire locks the write connection for the caller until release.
func (w *writeConn) acquire(ctx context.Context) (*sql.Conn, error) {
	w.mu.Lock()
	if w.conn == nil {
		conn, err := w.db.Conn(ctx)
		if err != nil {
			w.mu.Unlock()
			return nil, err
		}
		w.conn, w.stmts = conn, map[string]*sql.Stmt{}
	}
	return w.conn, nil
}

// prepared returns query prepared on the write connection, preparing it
// on first use. Only the holder (between acquire and release) may call it.
func (w *writeConn) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := w.stmts[query]; ok {
		return st, nil
	}
	st, err := w.conn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	w.stmts[query] = st
	return st, nil
}

// release unlocks the write connection. failed reports that the holder's
// work ended in an error: then the connection is checked, and dropped if
// database/sql no longer lets it be used (a cancelled transaction may have
// discarded it).
func (w *writeConn) release(failed bool) {
	if failed && w.conn != nil {
		if err := w.conn.PingContext(context.Background()); errors.Is(err, sql.ErrConnDone) || errors.Is(err, driver.ErrBadConn) {
			w.dropLocked()
		}
	}
	w.mu.Unlock()
}

func (w *writeConn) dropLocked() {
	for _, st := range w.stmts {
		_ = st.Close()
	}
	if w.conn != nil {
		_ = w.conn.Close()
	}
	w.conn, w.stmts = nil, nil
}

// close closes the statements, the connection and its pool.
func (w *writeConn) close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.dropLocked()
	return w.db.Close()
}
