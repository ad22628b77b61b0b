package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/presignd/presignd/internal/groupcommit"
	"github.com/presignd/presignd/store"
	"github.com/presignd/presignd/store/internal/sqlfiles"
)

// Group commit of CreateFile.
//
// SQLite has one writer at a time, and each write transaction pays for its
// COMMIT: the WAL frames of every page it changed (an insert into files
// touches a dozen indexes and the name search indexes). Under concurrent
// CreateFiles that cost, not the inserts, bounds throughput. So CreateFile
// queues its insert on a groupcommit.Writer, whose goroutine applies every
// queued insert (up to maxBatch) in order in ONE transaction (createBatch):
//
//   - an insert refused by a unique index (ErrAlreadyExists, ErrNameTaken)
//     is undone alone by SQLite (a constraint failure backs out its
//     statement and leaves the transaction open), and its caller gets its
//     own error while the others go on; an insert with a quota runs inside
//     its own SAVEPOINT with its quota sums, so one refused by
//     ErrQuotaExceeded is rolled back alone too. The checks stay atomic
//     with the insert, since the batch's statements run one after another
//     in one transaction;
//   - the name search indexes (migrations 0005, 0006) learn new files from
//     the name indexer, many batches at once (migration 0009): the batch
//     lists its new files for it in one statement. FTS5 writes a new
//     segment, and its bookkeeping, for every transaction that changes it,
//     which cost each batch about as much as its inserts. The indexer runs
//     on the writer goroutine between batches (afterBatch).
//
// See package groupcommit for what callers are promised (an acknowledged
// create is committed; a caller cancelled while queued is never applied)
// and for AnticipateCreate's held batches.

// maxBatch is the most inserts one transaction applies. It bounds how long
// a batch holds the write lock (about 100µs per insert) ahead of other
// writers.
const maxBatch = 64

// The name indexer (indexNames, migration 0009) runs on the writer
// goroutine between batches: once indexAfter stored files wait to be
// indexed, or indexDelay after the first of them was stored. ListFiles
// checks the names of the waiting files one by one, so indexAfter bounds
// that work.
const (
	indexAfter = 256
	indexDelay = 100 * time.Millisecond
)

// anticipateWait bounds how long the writer holds a batch open for
// announced CreateFiles (AnticipateCreate) that have not reached the queue.
// Measured on 2 CPUs under 64 concurrent CreateUploads, batches then hold
// about 15 inserts over gRPC and 10 over REST, not 3-4, and a CreateUpload
// costs about a tenth less CPU; a request announced and not yet queued
// takes a few hundred microseconds when the CPUs are free.
const anticipateWait = time.Millisecond

// createReq is one queued CreateFile.
type createReq struct {
	f               *store.File
	quota           store.Quota
	owner, metadata any
	rowid           int64 // the inserted row, set by the writer
}

// creates is CreateFile's group commit and the name indexer's state.
type creates struct {
	w *groupcommit.Writer[*createReq]
	// backlog is how many stored files wait for the name indexer (see
	// Store.NameIndexBacklog). The writer goroutine keeps it; others read.
	backlog atomic.Int64
	// indexerPaused, when set (tests), holds the name indexer back: it
	// runs again once unset, at its next tick.
	indexerPaused atomic.Bool
	// beforeBatch, when set (tests), runs before each batch with the
	// number of inserts in it.
	beforeBatch func(n int)
}

// startCreates starts CreateFile's writer, with unindexed files waiting
// for the name indexer.
func (s *Store) startCreates(unindexed int) {
	s.creates = &creates{}
	s.creates.backlog.Store(int64(unindexed))
	s.creates.w = groupcommit.New(groupcommit.Config[*createReq]{
		Commit:         s.commitCreates,
		MaxBatch:       maxBatch,
		AnticipateWait: anticipateWait,
		Between:        s.afterBatch,
	})
}

// commitCreates is the writer's Commit: createBatch, counting the files it
// stored into the name indexer's backlog.
func (s *Store) commitCreates(reqs []*createReq) ([]error, error) {
	if s.creates.beforeBatch != nil {
		s.creates.beforeBatch(len(reqs))
	}
	errs, added, err := s.createBatch(reqs)
	s.creates.backlog.Add(int64(added))
	return errs, err
}

// afterBatch is the writer's Between: it runs the name indexer when
// indexAfter files wait or when it is due, and otherwise asks to be due
// indexDelay after the first waiting file was stored.
func (s *Store) afterBatch(due bool) time.Duration {
	unindexed := s.creates.backlog.Load()
	switch {
	case unindexed == 0:
		return 0
	case !due && unindexed < indexAfter:
		return indexDelay
	case s.creates.indexerPaused.Load():
		return indexDelay
	}
	if err := s.indexNames(context.Background()); err != nil {
		// The files stay listed (and found by search); try again later.
		s.log.Warn("sqlite: name indexer failed; will retry", "waiting_files", s.creates.backlog.Load(), "retry_in", indexDelay, "err", err)
		return indexDelay
	}
	return 0
}

// savepoint names the savepoint around each insert of a batch.
const savepoint = "create_file"

const insertFile = `INSERT INTO files (` + sqlfiles.InsertColumns + `)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// createBatch inserts reqs in one write transaction. errs[i] is the error
// that refused reqs[i] alone (its insert undone); batchErr, when not nil,
// is why the transaction as a whole failed: then nothing of it is stored.
// added is how many files it stored.
func (s *Store) createBatch(reqs []*createReq) (errs []error, added int, batchErr error) {
	// Not a caller's context: cancelling one caller must not interrupt the
	// statements of the others. A lock held by another process is bounded
	// by the busy timeout.
	ctx := context.Background()
	errs = make([]error, len(reqs))
	batchErr = s.inPreparedWrite(ctx, "create files", func(conn *sql.Conn) error {
		insert, err := s.writer.prepared(ctx, insertFile)
		if err != nil {
			return s.fail("prepare insert", err)
		}
		rowids := make([]byte, 0, 1+len(reqs)*8)
		rowids = append(rowids, '[')
		for i, r := range reqs {
			own, err := s.createOne(ctx, conn, insert, r)
			if err != nil {
				return err
			}
			errs[i] = own
			if own == nil {
				if added > 0 {
					rowids = append(rowids, ',')
				}
				rowids = strconv.AppendInt(rowids, r.rowid, 10)
				added++
			}
		}
		if added == 0 {
			return nil
		}
		// The name indexer (indexNames) adds them to the name search
		// indexes later, many batches at once (migration 0009).
		rowids = append(rowids, ']')
		if err := s.execPrepared(ctx, `INSERT INTO files_name_unindexed (file_rowid)
			SELECT value FROM json_each(?)`, string(rowids)); err != nil {
			return s.fail("list new files for the name indexer", err)
		}
		return nil
	})
	if batchErr != nil {
		return errs, 0, batchErr
	}
	return errs, added, nil
}

// inPreparedWrite runs fn in a write transaction on the held write
// connection, with BEGIN and COMMIT prepared there, and commits when fn
// returns nil. BEGIN and COMMIT are issued by hand, so when a COMMIT fails
// the transaction is rolled back here, before another writer takes the
// connection. fn's errors are returned as they are.
func (s *Store) inPreparedWrite(ctx context.Context, op string, fn func(*sql.Conn) error) (err error) {
	conn, err := s.writer.acquire(ctx)
	if err != nil {
		return s.fail(op+": begin", err)
	}
	defer func() { s.writer.release(err != nil) }()
	if err := s.execPrepared(ctx, `BEGIN IMMEDIATE`); err != nil {
		return s.fail(op+": begin", err)
	}
	committed := false
	defer func() {
		if !committed {
			// Fails harmlessly when SQLite has already rolled back.
			_, _ = conn.ExecContext(ctx, `ROLLBACK`)
		}
	}()
	if err := fn(conn); err != nil {
		return err
	}
	if err := s.execPrepared(ctx, `COMMIT`); err != nil {
		return s.fail(op+": commit", err)
	}
	committed = true
	s.checkpoints.written()
	return nil
}

// execPrepared runs query, prepared once on the write connection, which
// the caller holds.
func (s *Store) execPrepared(ctx context.Context, query string, args ...any) error {
	st, err := s.writer.prepared(ctx, query)
	if err != nil {
		return err
	}
	_, err = st.ExecContext(ctx, args...)
	return err
}

// nameIndexes are the name search indexes (FTS5 external-content tables
// over files.name_fold, linked by rowid) that indexNames fills.
var nameIndexes = []string{"files_name_fts", "files_name_words"}

// indexNames adds the files listed in files_name_unindexed to the name
// search indexes and empties the list, in one write transaction. A failed
// attempt changes nothing: those files stay listed, and found by search.
func (s *Store) indexNames(ctx context.Context) error {
	err := s.inPreparedWrite(ctx, "index names", func(*sql.Conn) error {
		for _, index := range nameIndexes {
			// CROSS JOIN: the (short) list drives, files are read by rowid.
			if err := s.execPrepared(ctx, `INSERT INTO `+index+` (rowid, name_fold)
				SELECT f.rowid, f.name_fold FROM files_name_unindexed AS u
				CROSS JOIN files AS f ON f.rowid = u.file_rowid`); err != nil {
				return s.fail("index names in "+index, err)
			}
		}
		if err := s.execPrepared(ctx, `DELETE FROM files_name_unindexed`); err != nil {
			return s.fail("index names: empty the list", err)
		}
		return nil
	})
	if err == nil {
		s.creates.backlog.Store(0)
	}
	return err
}

// CreateCommits reports how many write transactions have committed
// CreateFiles since the store opened, and how many files they stored:
// files/commits is the mean number of creates that shared a COMMIT.
func (s *Store) CreateCommits() (commits, files int64) {
	return s.creates.w.Stats()
}

// NameIndexBacklog is how many files were stored since the name indexer
// last added the waiting files to the name search indexes (migration
// 0009), deleted ones included; an acknowledged CreateFile is counted. It
// stays below a few hundred while the indexer works; a backlog that keeps
// growing means indexing fails (the store logs why), and searches slow
// down with it, since they check every waiting file's name directly.
func (s *Store) NameIndexBacklog() int {
	return int(s.creates.backlog.Load())
}

// createOne applies r in the batch's transaction: own is the error that
// refused r, its insert undone; err, when not nil, means the transaction
// itself is lost. Without a quota the insert is one statement, which a
// unique violation backs out alone; with one, the insert and its quota
// sums run inside a savepoint, rolled back when the quota refuses.
func (s *Store) createOne(ctx context.Context, conn *sql.Conn, insert *sql.Stmt, r *createReq) (own, err error) {
	if r.quota.MaxBytes <= 0 && r.quota.ScopeMaxBytes <= 0 {
		own := s.insertChecked(ctx, conn, insert, r)
		if own != nil && !errors.Is(own, store.ErrAlreadyExists) && !errors.Is(own, store.ErrNameTaken) {
			// Not a constraint failure: SQLite may have rolled back the
			// whole transaction (an I/O error, a full disk).
			return nil, own
		}
		return own, nil
	}
	if _, err := conn.ExecContext(ctx, `SAVEPOINT `+savepoint); err != nil {
		return nil, s.fail("savepoint", err)
	}
	own = s.insertChecked(ctx, conn, insert, r)
	if own != nil {
		// ROLLBACK TO fails when SQLite rolled the whole transaction back
		// (an I/O error, a full disk): then the batch is lost.
		if _, err := conn.ExecContext(ctx, `ROLLBACK TO `+savepoint); err != nil {
			return nil, errors.Join(own, s.fail("rollback to savepoint", err))
		}
	}
	if _, err := conn.ExecContext(ctx, `RELEASE `+savepoint); err != nil {
		return nil, errors.Join(own, s.fail("release savepoint", err))
	}
	return own, nil
}

// insertChecked inserts r's file and checks its quota, in the current
// transaction; see CreateFile.
func (s *Store) insertChecked(ctx context.Context, conn *sql.Conn, insert *sql.Stmt, r *createReq) error {
	f, quota := r.f, r.quota
	res, err := insert.ExecContext(ctx,
		f.ID, f.Tenant, f.Category, f.DisplayName, f.NameScope, f.Scope, f.Filename, f.Key,
		f.Backend, f.ContentType, f.SizeBytes, f.ChecksumAlgorithm, f.ChecksumValue, f.ETag, string(f.State),
		f.FailureReason, r.owner, r.metadata, f.RequestID, f.RequestHash, f.UploadCount,
		micros(f.CreatedAt), micros(f.UpdatedAt), micros(f.CompletedAt), micros(f.UploadExpires),
		f.MultipartUploadID, f.PartSize, f.PartChecksumAlgorithm,
		fold(f.DisplayName), f.CompletedBy, f.Uploader.Kind, f.Uploader.ID, f.Uploader.Name, micros(f.LastURLAt), f.SizeUnknown)
	if err != nil {
		return s.fail("insert", err)
	}
	if r.rowid, err = res.LastInsertId(); err != nil {
		return s.fail("insert: rowid", err)
	}
	if quota.MaxBytes > 0 {
		used, err := liveBytes(ctx, conn, f.Tenant, nil, f.CreatedAt)
		if err != nil {
			return s.fail("sum tenant quota", err)
		}
		if used > quota.MaxBytes {
			return sqlfiles.TenantQuotaExceeded(used, quota.MaxBytes)
		}
	}
	if quota.ScopeMaxBytes > 0 {
		used, err := liveBytes(ctx, conn, f.Tenant, &f.Scope, f.CreatedAt)
		if err != nil {
			return s.fail("sum scope quota", err)
		}
		if used > quota.ScopeMaxBytes {
			return sqlfiles.ScopeQuotaExceeded(f.Scope, used, quota.ScopeMaxBytes)
		}
	}
	return nil
}

// Collector returns the store's Prometheus metrics: the name indexer's
// backlog (presignd_sqlite_name_index_backlog_files) and the group commit
// of CreateFiles (presignd_sqlite_create_commits_total,
// presignd_sqlite_created_files_total, presignd_sqlite_announced_creates).
func (s *Store) Collector() prometheus.Collector {
	return append(sqlfiles.Collectors{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "presignd_sqlite_name_index_backlog_files",
			Help: "Files stored since the SQLite name indexer last added the waiting files to the name search indexes; growing without bound means indexing fails.",
		}, func() float64 { return float64(s.NameIndexBacklog()) }),
	}, sqlfiles.CommitCollectors("sqlite", "SQLite write", s.creates.w)...)
}
