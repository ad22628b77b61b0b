package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/presignd/presignd/internal/groupcommit"
	"github.com/presignd/presignd/store"
	"github.com/presignd/presignd/store/internal/sqlfiles"
)

// Group commit of CreateFile.
//
// Each transaction pays for its COMMIT (a WAL flush) and each statement
// for a round trip. CreateFile queues its insert on a groupcommit.Writer,
// whose goroutine sends every queued insert (up to maxBatch) to the server
// in one pipeline (pgx.Batch): one implicit transaction, one round trip,
// one COMMIT (commitCreates). No statement of it fails on a file's own
// account, so one file's refusal never undoes the others':
//
//   - every insert is INSERT ... ON CONFLICT DO NOTHING: a file whose ID,
//     request ID or display name is taken is simply not inserted;
//   - an insert with a quota inserts only when the live bytes of the
//     tenant (and of its scope), counted in the same statement, leave room
//     for it, and reports what it counted. The batch first takes the
//     advisory lock of every tenant with a quota (in one order, so two
//     replicas' batches never wait for each other in a cycle), so the
//     count and the insert are atomic against every other quota'd create;
//   - once the transaction commits, a file that was not inserted is looked
//     up (one more round trip for all of them): a file, request ID or name
//     that holds it is ErrAlreadyExists or ErrNameTaken, else a quota it
//     did not fit is ErrQuotaExceeded. When none holds (the file that did
//     was removed meanwhile) the create is tried again.
//
// A statement that fails all the same (a value the server rejects) aborts
// the transaction: its file gets that error alone and the others are sent
// again without it.

// maxBatch is the most inserts one transaction applies.
const maxBatch = 64

// writers is how many batches may be in flight at once: while one batch
// waits for its WAL flush the next is sent rather than queued behind it.
// Measured on 2 CPUs, 32 goroutines creating: 1 writer made batches of 9
// but took longer per create than no batching (each flush waited for the
// one before); 2 made batches of 6.5 at a third less wall time and 37% of
// the PostgreSQL CPU per create of no batching; 4 made batches of 4.4 at
// no less wall time than 2 and more CPU.
const writers = 2

// anticipateWait bounds how long the writer holds a batch open for
// announced CreateFiles (AnticipateCreate) that have not queued.
const anticipateWait = time.Millisecond

// commitTimeout bounds one batch's round trips: the batch runs on no
// caller's context, and its callers wait for it.
const commitTimeout = 30 * time.Second

// maxRetries bounds how often a create whose conflicting file vanished,
// or whose batch was chosen as a deadlock victim, is tried again.
const maxRetries = 3

// createReq is one queued CreateFile.
type createReq struct {
	f    *store.File
	args []any // insertFile's arguments
	// contrib is the bytes the file itself adds to its tenant's live bytes.
	contrib int64
	quota   store.Quota
	// Set by the writer: whether the insert went in, and the live bytes
	// the quota check counted.
	inserted              bool
	tenantUsed, scopeUsed int64
}

// insertNew inserts a file unless it conflicts with a stored one.
const insertNew = insertFile + ` ON CONFLICT DO NOTHING`

// insertWithinQuota inserts a file unless it conflicts with a stored one
// or the live bytes of its tenant ($37 > 0) or scope ($38 > 0), counted
// with the file's own bytes ($36), would exceed their limit, and returns
// one row: whether it inserted, and the live bytes it counted (0 for a
// limit not set). $22 is the file's CreatedAt, the time liveBytes counts
// at.
const insertWithinQuota = `WITH used AS MATERIALIZED (SELECT
		CASE WHEN $37::bigint > 0 THEN ` + tenantLiveBytes + ` + $36::bigint ELSE 0 END AS tenant,
		CASE WHEN $38::bigint > 0 THEN ` + scopeLiveBytes + ` + $36::bigint ELSE 0 END AS scope),
	ins AS (INSERT INTO files (` + sqlfiles.InsertColumns + `)
		SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25,
			$26, $27, $28, $29, $30, $31, $32, $33, $34, $35
		FROM used WHERE ($37::bigint <= 0 OR used.tenant <= $37::bigint) AND ($38::bigint <= 0 OR used.scope <= $38::bigint)
		ON CONFLICT DO NOTHING RETURNING 1)
	SELECT EXISTS (SELECT FROM ins), used.tenant, used.scope FROM used`

// tenantLiveBytes and scopeLiveBytes sum, in insertWithinQuota, the live
// bytes of tenant $2 (of its scope $6) at time $22: READY files, whose
// bytes the triggers of migration 0008 keep in tenant_ready_bytes and
// scope_ready_bytes, and PENDING files whose upload target expires after
// $22 or has no expiry set, an index-only range of (tenant, [scope,]
// state, upload_expires) INCLUDE (size_bytes) that holds only the uploads
// in progress. Under the tenant's lock each statement's snapshot includes
// every create committed by earlier lock holders.
const (
	tenantLiveBytes = `(COALESCE((SELECT bytes FROM tenant_ready_bytes WHERE tenant = $2), 0)::bigint +
		(SELECT COALESCE(SUM(size_bytes), 0)::bigint FROM files WHERE tenant = $2 AND state = 'PENDING'
			AND (upload_expires IS NULL OR upload_expires > $22)))`
	scopeLiveBytes = `(COALESCE((SELECT bytes FROM scope_ready_bytes WHERE tenant = $2 AND scope = $6), 0)::bigint +
		(SELECT COALESCE(SUM(size_bytes), 0)::bigint FROM files WHERE tenant = $2 AND scope = $6 AND state = 'PENDING'
			AND (upload_expires IS NULL OR upload_expires > $22)))`
)

// lockTenants takes the quota lock of every tenant of $1, in the order of
// their lock keys.
var lockTenants = `SELECT pg_advisory_xact_lock(` + strconv.Itoa(quotaLockClass) + `, k)
	FROM (SELECT DISTINCT hashtext(t) AS k FROM unnest($1::text[]) AS t ORDER BY k OFFSET 0) AS keys`

// whoHolds tells which stored file keeps a file from being inserted: one
// with its ID, one with its request ID, one with its name in its scope.
const whoHolds = `SELECT
	EXISTS (SELECT FROM files WHERE id = $1),
	$3 <> '' AND EXISTS (SELECT FROM files WHERE tenant = $2 AND request_id = $3 AND request_id <> ''),
	$6::bool AND EXISTS (SELECT FROM files WHERE tenant = $2 AND name_scope = $4 AND display_name = $5
		AND name_scope <> '' AND state IN ('PENDING', 'READY', 'SCANNING'))`

// startCreates starts CreateFile's writer.
func (s *Store) startCreates() {
	s.creates = groupcommit.New(groupcommit.Config[*createReq]{
		Commit:         s.commitCreates,
		MaxBatch:       maxBatch,
		AnticipateWait: anticipateWait,
		Writers:        writers,
	})
}

// commitCreates is the writer's Commit; see the comment at the top.
func (s *Store) commitCreates(reqs []*createReq) ([]error, error) {
	if s.beforeBatch != nil {
		s.beforeBatch(len(reqs))
	}
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	errs := make([]error, len(reqs))
	pending := make([]int, len(reqs)) // indexes into reqs still to apply
	for i := range reqs {
		pending[i] = i
	}
	for attempt := 0; len(pending) > 0; attempt++ {
		batch := make([]*createReq, len(pending))
		for j, i := range pending {
			batch[j] = reqs[i]
		}
		failed, err := s.insertBatch(ctx, batch)
		switch {
		case failed >= 0:
			// That file's statement failed on its own: it alone is
			// refused, the others go again.
			errs[pending[failed]] = s.fail("insert", err)
			pending = slices.Delete(pending, failed, failed+1)
			continue
		case err != nil && isDeadlock(err) && attempt < maxRetries:
			continue
		case err != nil:
			return errs, s.fail("create files", err)
		}
		// Committed: look up why the files not inserted were not.
		var again []int
		var refused []int
		for _, i := range pending {
			if !reqs[i].inserted {
				refused = append(refused, i)
			}
		}
		if len(refused) > 0 {
			holds, err := s.whoHolds(ctx, reqs, refused)
			if err != nil {
				// The others are committed; these were not stored.
				for _, i := range refused {
					errs[i] = s.fail("look up conflict", err)
				}
				return errs, nil
			}
			for k, i := range refused {
				if errs[i] = refusal(reqs[i], holds[k]); errs[i] == nil {
					again = append(again, i)
				}
			}
		}
		if len(again) > 0 && attempt >= maxRetries {
			for _, i := range again {
				errs[i] = fmt.Errorf("%w: conflicting file changed during %d attempts", store.ErrConflict, maxRetries+1)
			}
			again = nil
		}
		pending = again
	}
	return errs, nil
}

// insertBatch sends reqs' inserts in one pipeline, one implicit
// transaction, and sets each one's outcome. failed is the index of the
// request whose statement failed (and err its error), or -1; then nothing
// is stored. Otherwise err is the transaction's error, if any.
func (s *Store) insertBatch(ctx context.Context, reqs []*createReq) (failed int, err error) {
	b := &pgx.Batch{}
	var tenants []string
	for _, r := range reqs {
		r.inserted, r.tenantUsed, r.scopeUsed = false, 0, 0
		if r.limited() {
			tenants = append(tenants, r.f.Tenant)
		}
	}
	if len(tenants) > 0 {
		b.Queue(lockTenants, tenants)
	}
	for _, r := range reqs {
		if r.limited() {
			b.Queue(insertWithinQuota, append(slices.Clip(r.args), r.contrib, r.quota.MaxBytes, r.quota.ScopeMaxBytes)...)
			continue
		}
		b.Queue(insertNew, r.args...)
	}
	br := s.pool.SendBatch(ctx, b)
	if len(tenants) > 0 {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return -1, err
		}
	}
	for i, r := range reqs {
		var err error
		if r.limited() {
			err = br.QueryRow().Scan(&r.inserted, &r.tenantUsed, &r.scopeUsed)
		} else {
			var tag pgconn.CommandTag
			tag, err = br.Exec()
			r.inserted = tag.RowsAffected() == 1
		}
		if err != nil {
			// The first error is the statement's own; the pipeline skips
			// the rest.
			br.Close()
			if ownFailure(err) {
				return i, err
			}
			return -1, err
		}
	}
	return -1, br.Close()
}

// limited reports whether r has a quota to check.
func (r *createReq) limited() bool { return r.quota.MaxBytes > 0 || r.quota.ScopeMaxBytes > 0 }

// whoHolds looks up, for each of reqs[refused], which stored file holds
// its ID, request ID and name: one round trip.
func (s *Store) whoHolds(ctx context.Context, reqs []*createReq, refused []int) ([][3]bool, error) {
	b := &pgx.Batch{}
	holds := make([][3]bool, len(refused))
	for _, i := range refused {
		f := reqs[i].f
		holdsName := f.NameScope != "" && (f.State == store.StatePending || f.State == store.StateReady || f.State == store.StateScanning)
		b.Queue(whoHolds, f.ID, f.Tenant, f.RequestID, f.NameScope, f.DisplayName, holdsName)
	}
	br := s.pool.SendBatch(ctx, b)
	defer br.Close()
	for k := range refused {
		if err := br.QueryRow().Scan(&holds[k][0], &holds[k][1], &holds[k][2]); err != nil {
			return nil, err
		}
	}
	if err := br.Close(); err != nil {
		return nil, err
	}
	return holds, nil
}

// refusal is why r was not inserted, given which stored files hold its
// ID, request ID and name (holds), or nil when none does and it fitted
// its quota: then it is to be tried again.
func refusal(r *createReq, holds [3]bool) error {
	f, quota := r.f, r.quota
	switch {
	case holds[0]:
		return fmt.Errorf("%w: file ID %s is taken", store.ErrAlreadyExists, f.ID)
	case holds[1]:
		return fmt.Errorf("%w: request ID %q is taken", store.ErrAlreadyExists, f.RequestID)
	case holds[2]:
		return fmt.Errorf("%w: %q in name scope %q", store.ErrNameTaken, f.DisplayName, f.NameScope)
	case quota.MaxBytes > 0 && r.tenantUsed > quota.MaxBytes:
		return sqlfiles.TenantQuotaExceeded(r.tenantUsed, quota.MaxBytes)
	case quota.ScopeMaxBytes > 0 && r.scopeUsed > quota.ScopeMaxBytes:
		return sqlfiles.ScopeQuotaExceeded(f.Scope, r.scopeUsed, quota.ScopeMaxBytes)
	}
	return nil
}

// ownFailure reports whether err, from one statement of a batch, is that
// statement's own (a value the server refused), not the connection's or
// the transaction's.
func ownFailure(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch {
	case strings.HasPrefix(pgErr.Code, "22"), // data_exception
		strings.HasPrefix(pgErr.Code, "23"), // integrity_constraint_violation
		pgErr.Code == "54000":               // program_limit_exceeded (an index row too large)
		return true
	}
	return false
}

// isDeadlock reports whether err is the server's deadlock_detected: this
// transaction was chosen to be rolled back.
func isDeadlock(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40P01" || pgErr.Code == "40001")
}

// liveContribution is the bytes f adds to its tenant's live bytes at its
// own CreatedAt (see store.Quota).
func liveContribution(f *store.File) int64 {
	switch {
	case f.State == store.StateReady || f.State == store.StateScanning:
		return f.SizeBytes
	case f.State == store.StatePending && (f.UploadExpires.IsZero() || f.UploadExpires.After(f.CreatedAt)):
		return f.SizeBytes
	}
	return 0
}

// CreateCommits reports how many transactions have committed CreateFiles
// since the store opened, and how many files they stored: files/commits
// is the mean number of creates that shared a COMMIT.
func (s *Store) CreateCommits() (commits, files int64) {
	return s.creates.Stats()
}

// AnticipateCreate announces a CreateFile that the caller is about to
// make with the returned context: until it is queued, the writer may hold
// the batch it is filling open for it (at most anticipateWait), so that
// requests handled at the same time share a COMMIT. done calls the
// announcement off; every announcement must end with done, which is
// harmless once the CreateFile has been made (or called twice).
func (s *Store) AnticipateCreate(ctx context.Context) (_ context.Context, done func()) {
	return s.creates.Anticipate(ctx)
}

// Collector returns the store's Prometheus metrics: the group commit of
// CreateFiles (presignd_postgres_create_commits_total,
// presignd_postgres_created_files_total,
// presignd_postgres_announced_creates).
func (s *Store) Collector() prometheus.Collector {
	return sqlfiles.CommitCollectors("postgres", "PostgreSQL", s.creates)
}
