// Package sqlite is presignd's embedded metadata store: a store.Store on a
// single SQLite database file, through the pure-Go modernc.org/sqlite (no
// cgo).
//
// The database runs in WAL mode, so readers never wait for the writer.
// Writes go through one connection, one transaction at a time (BEGIN
// IMMEDIATE), so concurrent writers in the process queue instead of failing
// with SQLITE_BUSY, and every check-then-write (name uniqueness, quota,
// UpdateFile's read-modify-write) happens inside the write transaction.
// Another process writing the same file waits up to the busy timeout.
//
// With synchronous=NORMAL a crash of the process never loses a committed
// write; a power loss may lose the last few, but never corrupts the file.
// The WAL is copied back into the database file by a goroutine of its own
// (checkpoint.go), not by the commit that fills it.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/presignd/presignd/store"
	"github.com/presignd/presignd/store/internal/migration"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Config configures Open.
type Config struct {
	// Path is the database file. Open creates it, and its directory, when
	// missing. It must not be empty, ":memory:" or contain '?'.
	Path string
	// BusyTimeout is how long a statement waits for another process's
	// lock before failing with store.ErrUnavailable; 0 means 5 seconds.
	BusyTimeout time.Duration
	// Events turns the transactional outbox on: every state change that
	// store.Event lists writes its event in the change's own transaction.
	// Off, no event is written (the outbox's methods still work, on an
	// empty outbox).
	Events bool
	// Log receives the failures of the store's background work (the name
	// indexer, which retries them); nil discards them.
	Log *slog.Logger
}

// Store is a store.Store on SQLite. It is safe for concurrent use.
type Store struct {
	writer  *writeConn      // the one write connection (writer.go)
	reader  *sql.DB         // read-only connections
	reads   *readStatements // queries prepared on reader (reads.go)
	creates *creates        // CreateFile's group commit (batch.go)
	// checkpoints copies the WAL back into the database (checkpoint.go).
	checkpoints *checkpointer
	log         *slog.Logger
	events      bool // Config.Events
	closed      atomic.Bool
}

var (
	_ store.Store             = (*Store)(nil)
	_ store.CreateAnticipator = (*Store)(nil)
	_ store.KeyWatch          = (*Store)(nil)
	_ store.Outbox            = (*Store)(nil)
	_ store.PendingFiles      = (*Store)(nil)
)

// Open opens (creating if needed) the database at cfg.Path and applies the
// migrations it has not recorded yet, in one transaction. It fails on a bad
// Path, and with store.ErrUnavailable when the file cannot be opened.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	return open(ctx, cfg, 0)
}

// open is Open, applying the migrations up to version through only, or all
// of them when through is 0.
func open(ctx context.Context, cfg Config, through int64) (*Store, error) {
	if cfg.Path == "" || cfg.Path == ":memory:" || strings.Contains(cfg.Path, "?") {
		return nil, fmt.Errorf("open sqlite: path %q must name a file and not contain '?'", cfg.Path)
	}
	if cfg.BusyTimeout <= 0 {
		cfg.BusyTimeout = 5 * time.Second
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Path), 0o750); err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", cfg.Path, err)
	}
	params := fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)",
		cfg.BusyTimeout.Milliseconds())
	// journal_mode is a property of the file: the writer sets it once.
	// temp_store(MEMORY) keeps the writer's statement and savepoint
	// journals in memory; by default they spill to a temporary file past
	// 64 KiB, which an insert into files with its indexes reaches.
	writer, err := sql.Open("sqlite", cfg.Path+"?"+params+"&_pragma=journal_mode(WAL)&_pragma=temp_store(MEMORY)&_pragma=wal_autocheckpoint(0)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", cfg.Path, err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	s := &Store{writer: newWriteConn(writer), log: cfg.Log, events: cfg.Events}
	if err := s.migrate(ctx, through); err != nil {
		writer.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", cfg.Path, err)
	}
	// Readers open only after the writer has switched the file to WAL.
	reader, err := sql.Open("sqlite", cfg.Path+"?"+params+"&_pragma=query_only(1)")
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", cfg.Path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	reader.SetMaxOpenConns(n)
	reader.SetMaxIdleConns(n)
	s.reader = reader
	s.reads = newReadStatements(reader)
	cp, err := sql.Open("sqlite", cfg.Path+"?"+params)
	if err != nil {
		writer.Close()
		reader.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", cfg.Path, err)
	}
	cp.SetMaxOpenConns(1)
	s.checkpoints = newCheckpointer(cp)
	var unindexed int
	if err := reader.QueryRowContext(ctx, `SELECT count(*) FROM files_name_unindexed`).Scan(&unindexed); err != nil {
		unindexed = 1 // index soon, and find out then
	}
	s.startCreates(unindexed)
	return s, nil
}

// migrate applies the embedded migrations the database has not recorded,
// up to version through (0: all of them).
func (s *Store) migrate(ctx context.Context, through int64) error {
	ms, err := migration.Load(migrationFS, "migrations")
	if err != nil {
		return err
	}
	tx, err := s.writer.db.BeginTx(ctx, nil)
	if err != nil {
		return s.fail("migrate: begin", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER NOT NULL PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at INTEGER NOT NULL
	) STRICT`); err != nil {
		return s.fail("migrate: create schema_migrations", err)
	}
	var applied []migration.Record
	rows, err := tx.QueryContext(ctx, `SELECT version, name FROM schema_migrations`)
	if err != nil {
		return s.fail("migrate: read schema_migrations", err)
	}
	for rows.Next() {
		var r migration.Record
		if err := rows.Scan(&r.Version, &r.Name); err != nil {
			rows.Close()
			return s.fail("migrate: read schema_migrations", err)
		}
		applied = append(applied, r)
	}
	if err := rows.Close(); err != nil {
		return s.fail("migrate: read schema_migrations", err)
	}
	apply, renumber := migration.Plan(ms, applied, through)
	// Deleted first, then recorded again: the versions may swap places.
	for _, r := range renumber {
		if _, err := tx.ExecContext(ctx, `DELETE FROM schema_migrations WHERE version = ?`, r.From.Version); err != nil {
			return s.fail("migrate: renumber "+r.From.Name, err)
		}
	}
	now := time.Now().UnixMicro()
	for _, r := range renumber {
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
			r.To.Version, r.To.Name, now); err != nil {
			return s.fail("migrate: renumber "+r.From.Name, err)
		}
	}
	for _, m := range apply {
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return s.fail("migrate: apply "+m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
			m.Version, m.Name, now); err != nil {
			return s.fail("migrate: record "+m.Name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return s.fail("migrate: commit", err)
	}
	return nil
}

// Ping reports whether the database file can be read.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.reader.PingContext(ctx); err != nil {
		return s.fail("ping", err)
	}
	return nil
}

// Close closes the database. Calls after Close return store.ErrUnavailable.
func (s *Store) Close() error {
	s.closed.Store(true)
	s.creates.w.Close()
	return errors.Join(s.checkpoints.close(), s.reader.Close(), s.writer.close())
}

// fail adds op to err, replacing a driver error that means one of store's
// sentinels with that sentinel (the driver's message kept as text).
func (s *Store) fail(op string, err error) error {
	if s.closed.Load() {
		return fmt.Errorf("%s: %w (store closed)", op, store.ErrUnavailable)
	}
	var se *msqlite.Error
	if errors.As(err, &se) {
		switch code := se.Code(); {
		case code == sqlite3.SQLITE_CONSTRAINT_UNIQUE && isNameTaken(se.Error()):
			return fmt.Errorf("%s: %w (%v)", op, store.ErrNameTaken, err)
		case code == sqlite3.SQLITE_CONSTRAINT_UNIQUE || code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%s: %w (%v)", op, store.ErrAlreadyExists, err)
		case code&0xff == sqlite3.SQLITE_BUSY, code&0xff == sqlite3.SQLITE_LOCKED,
			code&0xff == sqlite3.SQLITE_CANTOPEN, code&0xff == sqlite3.SQLITE_IOERR:
			return fmt.Errorf("%s: %w (%v)", op, store.ErrUnavailable, err)
		}
	}
	if errors.Is(err, sql.ErrConnDone) {
		return fmt.Errorf("%s: %w (%v)", op, store.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// nameIndex is the unique index that holds display names in their name
// scope (migration 0003), and nameIndexColumns its columns as SQLite names
// them in a unique violation.
const nameIndex = "files_name_taken"

var nameIndexColumns = []string{"files.tenant", "files.name_scope", "files.display_name"}

// isNameTaken reports whether msg, the text of a SQLITE_CONSTRAINT_UNIQUE
// error, is a violation of nameIndex. SQLite names no index for an index
// on columns, only the columns ("UNIQUE constraint failed: files.tenant,
// files.name_scope, files.display_name"), so the list after the colon must
// be exactly nameIndexColumns, in any order; the form SQLite uses for an
// index on expressions ("index 'files_name_taken'") is matched too.
func isNameTaken(msg string) bool {
	if strings.Contains(msg, "index '"+nameIndex+"'") {
		return true
	}
	const marker = "UNIQUE constraint failed: "
	i := strings.Index(msg, marker)
	if i < 0 {
		return false
	}
	// The column list ends the message, before the " (2067)" code the
	// driver may append.
	list, _, _ := strings.Cut(msg[i+len(marker):], " (")
	cols := strings.Split(list, ",")
	if len(cols) != len(nameIndexColumns) {
		return false
	}
	for _, c := range cols {
		if !slices.Contains(nameIndexColumns, strings.TrimSpace(c)) {
			return false
		}
	}
	return true
}

// inWrite runs fn in a write transaction and commits it when fn returns
// nil. fn's errors are returned as they are.
func (s *Store) inWrite(ctx context.Context, op string, fn func(*sql.Tx) error) (err error) {
	conn, err := s.writer.acquire(ctx)
	if err != nil {
		return s.fail(op+": begin", err)
	}
	defer func() { s.writer.release(err != nil) }()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return s.fail(op+": begin", err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return s.fail(op+": commit", err)
	}
	s.checkpoints.written()
	return nil
}
