// Package postgres is presignd's metadata store for running several
// replicas: a store.Store on PostgreSQL through pgx v5 and a pgxpool.
//
// All of the store's tables live in one schema (Config.Schema), which every
// pooled connection puts first on its search_path. Display-name and
// request-ID uniqueness are partial unique indexes; CreateFile with a quota
// (of the tenant or of a scope) takes a transaction-scoped advisory lock on
// the tenant before it counts, so concurrent creates of one tenant (on any
// replica) are admitted one at a time; UpdateFile locks the row (SELECT ... FOR UPDATE).
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/puddle/v2"

	"github.com/presignd/presignd/internal/groupcommit"
	"github.com/presignd/presignd/store"
	"github.com/presignd/presignd/store/internal/migration"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Config configures Open.
type Config struct {
	// URI is a PostgreSQL connection string (URL or key=value form); pgx's
	// pool_* parameters are honoured. Without pool_max_conns the pool
	// holds up to defaultMaxConns connections.
	URI string
	// Schema holds the store's tables; Open creates it when missing and
	// sets it as every connection's search_path. Empty means the server's
	// default search_path (usually public).
	Schema string
	// Events turns the transactional outbox on: every state change that
	// store.Event lists writes its event in the change's own transaction.
	// Off, no event is written (the outbox's methods still work, on an
	// empty outbox).
	Events bool
}

// defaultMaxConns is the pool size when the URI sets none. pgx's own
// default, four connections on a small machine, caps concurrent CreateFiles
// at four commits per WAL flush: each one waits for its flush, and
// PostgreSQL flushes the commits that wait together at once. A URI's
// pool_max_conns wins (mind max_connections across replicas).
const defaultMaxConns = 16

// Store is a store.Store on PostgreSQL. It is safe for concurrent use.
type Store struct {
	pool    *pgxpool.Pool
	creates *groupcommit.Writer[*createReq] // CreateFile's group commit (batch.go)
	closed  atomic.Bool
	events  bool // Config.Events
	// beforeBatch, when set (tests), runs before each batch of creates
	// with the number of creates in it.
	beforeBatch func(n int)
}

var (
	_ store.Store             = (*Store)(nil)
	_ store.CreateAnticipator = (*Store)(nil)
	_ store.KeyWatch          = (*Store)(nil)
	_ store.Outbox            = (*Store)(nil)
	_ store.PendingFiles      = (*Store)(nil)
)

// Open connects to cfg.URI and applies the migrations the schema has not
// recorded yet, in one transaction, under a session advisory lock keyed by
// the schema, so replicas starting together migrate once and wait for each
// other. It fails on a malformed URI, and with store.ErrUnavailable when
// the server cannot be reached.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	return open(ctx, cfg, 0)
}

// open is Open, applying the migrations up to version through only, or all
// of them when through is 0.
func open(ctx context.Context, cfg Config, through int64) (*Store, error) {
	pcfg, err := pgxpool.ParseConfig(cfg.URI)
	if err != nil {
		return nil, fmt.Errorf("open postgres: parse URI: %w", err)
	}
	if pcfg.ConnConfig.RuntimeParams["application_name"] == "" {
		// Names the store's sessions in pg_stat_activity, for operators
		// (and tests) to find them; a URI's application_name wins.
		pcfg.ConnConfig.RuntimeParams["application_name"] = "presignd"
	}
	if _, ok := pcfg.ConnConfig.RuntimeParams["jit"]; !ok {
		// The store's statements are short, and JIT compiling one costs
		// tens of milliseconds. The planner decides to compile on the
		// estimated cost of the whole plan, including branches that do
		// not run: ListFiles' name search plans a branch that reads every
		// file with the text's words, and runs it only when they are few.
		// A URI's jit setting wins.
		pcfg.ConnConfig.RuntimeParams["jit"] = "off"
	}
	if !strings.Contains(cfg.URI, "pool_max_conns") {
		pcfg.MaxConns = defaultMaxConns
	}
	if cfg.Schema != "" {
		// A startup parameter: set on every new connection, before any query.
		pcfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{cfg.Schema}.Sanitize()
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	s := &Store{pool: pool, events: cfg.Events}
	if err := s.migrate(ctx, cfg.Schema, through); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	s.startCreates()
	return s, nil
}

// migrate applies the embedded migrations the schema has not recorded, up
// to version through (0: all of them).
func (s *Store) migrate(ctx context.Context, schema string, through int64) (err error) {
	ms, err := migration.Load(migrationFS, "migrations")
	if err != nil {
		return err
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fail("migrate: connect", err)
	}
	defer conn.Release()
	const lockKey = `hashtextextended('presignd.migrate:' || $1, 0)`
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(`+lockKey+`)`, schema); err != nil {
		return fail("migrate: lock", err)
	}
	defer func() {
		// Unlock even when ctx is done; a connection that cannot unlock is
		// closed, which releases the lock too.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, uerr := conn.Exec(uctx, `SELECT pg_advisory_unlock(`+lockKey+`)`, schema); uerr != nil {
			conn.Conn().Close(uctx)
		}
	}()
	if schema != "" {
		if _, err := conn.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{schema}.Sanitize()); err != nil {
			return fail("migrate: create schema "+schema, err)
		}
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fail("migrate: begin", err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    bigint      NOT NULL PRIMARY KEY,
		name       text        NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return fail("migrate: create schema_migrations", err)
	}
	rows, err := tx.Query(ctx, `SELECT version, name FROM schema_migrations`)
	if err != nil {
		return fail("migrate: read schema_migrations", err)
	}
	applied, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (migration.Record, error) {
		var r migration.Record
		err := row.Scan(&r.Version, &r.Name)
		return r, err
	})
	if err != nil {
		return fail("migrate: read schema_migrations", err)
	}
	apply, renumber := migration.Plan(ms, applied, through)
	// Deleted first, then recorded again: the versions may swap places.
	for _, r := range renumber {
		if _, err := tx.Exec(ctx, `DELETE FROM schema_migrations WHERE version = $1`, r.From.Version); err != nil {
			return fail("migrate: renumber "+r.From.Name, err)
		}
	}
	for _, r := range renumber {
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, r.To.Version, r.To.Name); err != nil {
			return fail("migrate: renumber "+r.From.Name, err)
		}
	}
	for _, m := range apply {
		// No arguments: the simple protocol, which runs every statement.
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return fail("migrate: apply "+m.Name, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
			return fail("migrate: record "+m.Name, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fail("migrate: commit", err)
	}
	return nil
}

// Ping reports whether the server answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return s.fail("ping", err)
	}
	return nil
}

// Close closes the pool, waiting for connections in use to be returned.
// Calls after Close return store.ErrUnavailable.
func (s *Store) Close() error {
	s.closed.Store(true)
	s.creates.Close()
	s.pool.Close()
	return nil
}

func (s *Store) fail(op string, err error) error {
	if s.closed.Load() && !errors.Is(err, store.ErrUnavailable) {
		return fmt.Errorf("%s: %w (store closed: %v)", op, store.ErrUnavailable, err)
	}
	return fail(op, err)
}

// fail adds op to err, replacing a driver error that means one of store's
// sentinels with that sentinel (the driver's message kept as text).
// Context errors stay as they are.
func fail(op string, err error) error {
	if sentinel := classify(err); sentinel != nil {
		return fmt.Errorf("%s: %w (%v)", op, sentinel, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// nameIndex is the unique index that holds display names in their name
// scope (migration 0003): a unique violation of it is store.ErrNameTaken.
const nameIndex = "files_name_taken"

// classify returns the store sentinel err stands for, or nil.
func classify(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch code := pgErr.Code; {
		case code == "23505" && pgErr.ConstraintName == nameIndex: // unique_violation
			return store.ErrNameTaken
		case code == "23505":
			return store.ErrAlreadyExists
		case strings.HasPrefix(code, "08"), // connection_exception
			code == "57P01", // admin_shutdown
			code == "57P02", // crash_shutdown
			code == "57P03", // cannot_connect_now
			code == "53300": // too_many_connections
			return store.ErrUnavailable
		}
		return nil
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	switch {
	case errors.As(err, &connectErr),
		errors.Is(err, puddle.ErrClosedPool),
		errors.As(err, &netErr),
		errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed):
		return store.ErrUnavailable
	}
	return nil
}

// inTx runs fn in a transaction and commits it when fn returns nil. fn's
// errors are returned as they are.
func (s *Store) inTx(ctx context.Context, op string, fn func(pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return s.fail(op+": begin", err)
	}
	defer tx.Rollback(ctx)
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return s.fail(op+": commit", err)
	}
	return nil
}
