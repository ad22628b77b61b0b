package postgres

import (
	"context"
	"fmt"

	"time"

	"github.com/jackc/pgx/v5"

	"github.com/presignd/presignd/store"
	"github.com/presignd/presignd/store/internal/sqlfiles"
)

var _ store.Lifecycle = (*Store)(nil)

const deletionColumns = sqlfiles.DeletionColumns

// ExpireUploads expires the listed uploads that are still abandoned; see
// store.Lifecycle. The rows are picked once (a MATERIALIZED CTE, so a
// rescan cannot pick others) and locked with FOR UPDATE SKIP LOCKED, so
// replicas passing the same ids expire each file once, and a file another
// transaction holds (such as a CompleteUpload's UpdateFile) is left
// alone.
func (s *Store) ExpireUploads(ctx context.Context, ids []string, expiredBefore, now time.Time) ([]*store.File, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	now = store.KeepTime(now)
	expire := func(q querier) ([]*store.File, error) {
		rows, err := q.Query(ctx, `WITH claimed AS MATERIALIZED (
				SELECT id AS claimed_id FROM files WHERE id = ANY($3) AND state = 'PENDING' AND upload_expires <= $1
				ORDER BY upload_expires, id FOR UPDATE SKIP LOCKED
			), expired AS (
				UPDATE files SET state = 'EXPIRED', updated_at = $2
				FROM claimed WHERE id = claimed_id AND state = 'PENDING'
				RETURNING `+readColumns+`
			), queued AS (
				INSERT INTO object_deletions (backend, object_key, file_id, tenant, reason, multipart_upload_id,
					created_at, next_attempt)
				SELECT backend, object_key, id, tenant, $4, multipart_upload_id, $2, $2 FROM expired
			)
			SELECT * FROM expired ORDER BY upload_expires, id`,
			expiredBefore, now, ids, store.DeletionExpired)
		if err != nil {
			return nil, s.fail("expire uploads", err)
		}
		files, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*store.File, error) { return scanFile(r) })
		if err != nil {
			return nil, s.fail("expire uploads", err)
		}
		return files, nil
	}
	if !s.events {
		// One statement, its own transaction.
		return expire(s.pool)
	}
	var files []*store.File
	err := s.inTx(ctx, "expire uploads", func(tx pgx.Tx) error {
		var err error
		if files, err = expire(tx); err != nil {
			return err
		}
		if err := s.insertEvents(ctx, tx, store.EventFileExpired, files, now); err != nil {
			return fmt.Errorf("expire uploads: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return files, nil
}

// querier is a pgx.Tx or the pool.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// DeleteFileAndQueueObject deletes a file and queues its object; see
// store.Lifecycle.
func (s *Store) DeleteFileAndQueueObject(ctx context.Context, tenant, id string, now, dueAt time.Time) (*store.Deletion, error) {
	op := "delete file " + id
	var d *store.Deletion
	err := s.inTx(ctx, op, func(tx pgx.Tx) error {
		var f *store.File
		if s.events {
			// The record as it was, for the event; locked until the commit.
			var err error
			f, err = scanFile(tx.QueryRow(ctx, `SELECT `+readColumns+` FROM files WHERE id = $1 AND tenant = $2 FOR UPDATE`, id, tenant))
			if err != nil {
				return s.failGet(op, err)
			}
		}
		// The thumbnails' objects are queued by a data-modifying WITH,
		// which runs to completion whether or not the query reads it.
		rows, err := tx.Query(ctx, `WITH gone AS (
				DELETE FROM files WHERE id = $1 AND tenant = $2 RETURNING backend, object_key, id, tenant,
					CASE WHEN state IN ('READY', 'SCANNING', 'QUARANTINED') THEN '' ELSE multipart_upload_id END AS upload_id, thumbnails
			), thumbs AS (
				INSERT INTO object_deletions (backend, object_key, file_id, tenant, reason, multipart_upload_id,
					created_at, next_attempt)
				SELECT gone.backend, t->>'key', gone.id, gone.tenant, $3, '', $4, $5
				FROM gone, jsonb_array_elements(COALESCE(gone.thumbnails, '[]'::jsonb)) AS t
			)
			INSERT INTO object_deletions (backend, object_key, file_id, tenant, reason, multipart_upload_id,
				created_at, next_attempt)
			SELECT backend, object_key, id, tenant, $3, upload_id, $4, $5 FROM gone
			RETURNING `+deletionColumns,
			id, tenant, store.DeletionDeleted, store.KeepTime(now), store.KeepTime(dueAt))
		if err != nil {
			return s.fail(op, err)
		}
		ds, err := pgx.CollectRows(rows, scanDeletion)
		if err != nil {
			return s.fail(op, err)
		}
		if len(ds) == 0 {
			return fmt.Errorf("%s: %w", op, store.ErrNotFound)
		}
		d = ds[0]
		if f != nil {
			if err := s.insertEvent(ctx, tx, store.EventFileDeleted, f, now); err != nil {
				return fmt.Errorf("%s: %w", op, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// AbortUpload aborts a PENDING upload and queues its object; see
// store.Lifecycle. The file's row is locked (FOR UPDATE) from the read to
// the commit.
func (s *Store) AbortUpload(ctx context.Context, tenant, id string, now, dueAt time.Time) (*store.File, error) {
	op := "abort upload " + id
	now = store.KeepTime(now)
	var out *store.File
	err := s.inTx(ctx, op, func(tx pgx.Tx) error {
		f, err := scanFile(tx.QueryRow(ctx, `SELECT `+readColumns+` FROM files WHERE id = $1 AND tenant = $2 FOR UPDATE`, id, tenant))
		if err != nil {
			return s.failGet(op, err)
		}
		switch f.State {
		case store.StateAborted:
			out = f
			return nil
		case store.StatePending:
		default:
			return fmt.Errorf("%s: %w: the file is %s, not PENDING", op, store.ErrConflict, f.State)
		}
		f.State, f.CompletedAt, f.UpdatedAt = store.StateAborted, now, now
		if _, err := tx.Exec(ctx, `UPDATE files SET state = $1, completed_at = $2, updated_at = $2 WHERE id = $3`,
			string(f.State), now, id); err != nil {
			return s.fail(op, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO object_deletions
			(backend, object_key, file_id, tenant, reason, multipart_upload_id, created_at, next_attempt)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			f.Backend, f.Key, f.ID, f.Tenant, store.DeletionAborted, f.MultipartUploadID, now, store.KeepTime(dueAt)); err != nil {
			return s.fail(op+": queue object", err)
		}
		if err := s.insertEvent(ctx, tx, store.EventFileAborted, f, now); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		out = f
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ClaimDeletions leases due deletions; see store.Lifecycle. Rows another
// replica is claiming are skipped (FOR UPDATE SKIP LOCKED), and a row
// claimed meanwhile fails the due check on re-evaluation, so no deletion
// is handed out twice within its lease.
func (s *Store) ClaimDeletions(ctx context.Context, now, leaseUntil time.Time, limit int) ([]*store.Deletion, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("claim deletions: limit %d is not positive", limit)
	}
	rows, err := s.pool.Query(ctx, `WITH due AS MATERIALIZED (
			SELECT id AS due_id FROM object_deletions WHERE next_attempt <= $1
			ORDER BY next_attempt, id LIMIT $3 FOR UPDATE SKIP LOCKED
		), claimed AS (
			UPDATE object_deletions SET next_attempt = $2, attempts = attempts + 1
			FROM due WHERE id = due_id AND next_attempt <= $1
			RETURNING `+deletionColumns+`
		)
		SELECT * FROM claimed ORDER BY id`,
		now, store.KeepTime(leaseUntil), limit)
	if err != nil {
		return nil, s.fail("claim deletions", err)
	}
	ds, err := pgx.CollectRows(rows, scanDeletion)
	if err != nil {
		return nil, s.fail("claim deletions", err)
	}
	return ds, nil
}

// FinishDeletion removes a deletion from the queue; see store.Lifecycle.
func (s *Store) FinishDeletion(ctx context.Context, id int64) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM object_deletions WHERE id = $1`, id); err != nil {
		return s.fail(fmt.Sprintf("finish deletion %d", id), err)
	}
	return nil
}

// RetryDeletion reschedules a failed deletion; see store.Lifecycle.
func (s *Store) RetryDeletion(ctx context.Context, id int64, dueAt time.Time, lastErr string) error {
	op := fmt.Sprintf("retry deletion %d", id)
	tag, err := s.pool.Exec(ctx, `UPDATE object_deletions SET next_attempt = $2, last_error = $3 WHERE id = $1`,
		id, store.KeepTime(dueAt), lastErr)
	if err != nil {
		return s.fail(op, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	return nil
}

// ClaimObjectChecks picks READY files to check; see store.Lifecycle.
func (s *Store) ClaimObjectChecks(ctx context.Context, checkedBefore, now time.Time, limit int) ([]*store.File, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("claim object checks: limit %d is not positive", limit)
	}
	rows, err := s.pool.Query(ctx, `WITH picked AS MATERIALIZED (
			SELECT id AS picked_id FROM files WHERE state = 'READY' AND (checked_at IS NULL OR checked_at < $1)
			ORDER BY checked_at NULLS FIRST, id LIMIT $3 FOR UPDATE SKIP LOCKED
		), claimed AS (
			UPDATE files SET checked_at = $2
			FROM picked WHERE id = picked_id AND state = 'READY'
			RETURNING `+readColumns+`
		)
		SELECT * FROM claimed ORDER BY id`,
		checkedBefore, store.KeepTime(now), limit)
	if err != nil {
		return nil, s.fail("claim object checks", err)
	}
	files, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*store.File, error) { return scanFile(r) })
	if err != nil {
		return nil, s.fail("claim object checks", err)
	}
	return files, nil
}

// SetObjectMissing flags or clears a READY file's missing object; see
// store.Lifecycle.
func (s *Store) SetObjectMissing(ctx context.Context, tenant, id string, missing bool, at time.Time) error {
	q := `UPDATE files SET object_missing_since = NULL WHERE id = $1 AND tenant = $2 AND state = 'READY'`
	args := []any{id, tenant}
	if missing {
		q = `UPDATE files SET object_missing_since = COALESCE(object_missing_since, $3)
			WHERE id = $1 AND tenant = $2 AND state = 'READY'`
		args = append(args, store.KeepTime(at))
	}
	if _, err := s.pool.Exec(ctx, q, args...); err != nil {
		return s.fail("set object missing of file "+id, err)
	}
	return nil
}

// holdsMultipartUpload is HoldsMultipartUpload's statement. It repeats
// the conditions of the partial index so that the planner can use it.
const holdsMultipartUpload = `SELECT EXISTS (SELECT FROM files
	WHERE backend = $1 AND multipart_upload_id = $2 AND state = 'PENDING' AND multipart_upload_id <> '')`

// HoldsMultipartUpload tells whether a PENDING file holds a multipart
// upload; see store.Lifecycle. It reads the partial index
// files_pending_multipart (migration 0012).
func (s *Store) HoldsMultipartUpload(ctx context.Context, backend, uploadID string) (bool, error) {
	if uploadID == "" {
		return false, nil
	}
	var held bool
	err := s.pool.QueryRow(ctx, holdsMultipartUpload, backend, uploadID).Scan(&held)
	if err != nil {
		return false, s.fail("look up multipart upload "+uploadID, err)
	}
	return held, nil
}

func scanDeletion(r pgx.CollectableRow) (*store.Deletion, error) {
	var d store.Deletion
	err := r.Scan(&d.ID, &d.Backend, &d.Key, &d.FileID, &d.Tenant, &d.Reason, &d.MultipartUploadID,
		&d.Attempts, &d.LastError, &d.CreatedAt, &d.NotBefore)
	d.CreatedAt, d.NotBefore = d.CreatedAt.UTC(), d.NotBefore.UTC()
	return &d, err
}
