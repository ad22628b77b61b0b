package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/presignd/presignd/store"
	"github.com/presignd/presignd/store/internal/sqlfiles"
)

var _ store.Lifecycle = (*Store)(nil)

const deletionColumns = sqlfiles.DeletionColumns

// ExpireUploads expires the listed uploads that are still abandoned; see
// store.Lifecycle. It runs in one write transaction: the database's single
// writer (across processes, BEGIN IMMEDIATE) makes every claim exclusive.
// The ids travel as one JSON array, whatever their number.
func (s *Store) ExpireUploads(ctx context.Context, ids []string, expiredBefore, now time.Time) ([]*store.File, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return nil, fmt.Errorf("expire uploads: %w", err)
	}
	now = store.KeepTime(now)
	var files []*store.File
	err = s.inWrite(ctx, "expire uploads", func(tx *sql.Tx) error {
		var err error
		files, err = queryFiles(ctx, tx, `UPDATE files SET state = 'EXPIRED', updated_at = ?
			WHERE id IN (SELECT value FROM json_each(?)) AND state = 'PENDING' AND upload_expires <= ?
			RETURNING `+readColumns, now.UnixMicro(), string(list), expiredBefore.UnixMicro())
		if err != nil {
			return s.fail("expire uploads", err)
		}
		for _, f := range files {
			if _, err := tx.ExecContext(ctx, `INSERT INTO object_deletions
				(backend, object_key, file_id, tenant, reason, multipart_upload_id, created_at, next_attempt)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
				f.Backend, f.Key, f.ID, f.Tenant, store.DeletionExpired, f.MultipartUploadID,
				now.UnixMicro(), now.UnixMicro()); err != nil {
				return s.fail("expire uploads: queue object of "+f.ID, err)
			}
			if err := s.insertEvent(ctx, tx, store.EventFileExpired, f, now); err != nil {
				return fmt.Errorf("expire uploads: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sortByExpiry(files)
	return files, nil
}

// DeleteFileAndQueueObject deletes a file and queues its object; see
// store.Lifecycle.
func (s *Store) DeleteFileAndQueueObject(ctx context.Context, tenant, id string, now, dueAt time.Time) (*store.Deletion, error) {
	op := "delete file " + id
	var d *store.Deletion
	err := s.inWrite(ctx, op, func(tx *sql.Tx) error {
		f, err := scanFile(tx.QueryRowContext(ctx, `DELETE FROM files WHERE id = ? AND tenant = ?
			RETURNING `+readColumns, id, tenant))
		if err != nil {
			return s.failGet(op, err)
		}
		backend, key, uploadID := f.Backend, f.Key, f.MultipartUploadID
		if f.State == store.StateReady || f.State == store.StateScanning || f.State == store.StateQuarantined {
			uploadID = "" // the backend completed it
		}
		d, err = scanDeletion(tx.QueryRowContext(ctx, `INSERT INTO object_deletions
			(backend, object_key, file_id, tenant, reason, multipart_upload_id, created_at, next_attempt)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			RETURNING `+deletionColumns,
			backend, key, id, tenant, store.DeletionDeleted, uploadID,
			store.KeepTime(now).UnixMicro(), store.KeepTime(dueAt).UnixMicro()))
		if err != nil {
			return s.fail(op+": queue object", err)
		}
		if err := s.queueThumbnails(ctx, tx, f, store.KeepTime(now).UnixMicro(), store.KeepTime(dueAt).UnixMicro()); err != nil {
			return s.fail(op+": queue thumbnails", err)
		}
		if err := s.insertEvent(ctx, tx, store.EventFileDeleted, f, now); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// AbortUpload aborts a PENDING upload and queues its object; see
// store.Lifecycle.
func (s *Store) AbortUpload(ctx context.Context, tenant, id string, now, dueAt time.Time) (*store.File, error) {
	op := "abort upload " + id
	now = store.KeepTime(now)
	var out *store.File
	err := s.inWrite(ctx, op, func(tx *sql.Tx) error {
		f, err := scanFile(tx.QueryRowContext(ctx, `SELECT `+readColumns+` FROM files WHERE id = ? AND tenant = ?`, id, tenant))
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
		if _, err := tx.ExecContext(ctx, `UPDATE files SET state = ?, completed_at = ?, updated_at = ? WHERE id = ?`,
			string(f.State), now.UnixMicro(), now.UnixMicro(), id); err != nil {
			return s.fail(op, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO object_deletions
			(backend, object_key, file_id, tenant, reason, multipart_upload_id, created_at, next_attempt)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			f.Backend, f.Key, f.ID, f.Tenant, store.DeletionAborted, f.MultipartUploadID,
			now.UnixMicro(), store.KeepTime(dueAt).UnixMicro()); err != nil {
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

// ClaimDeletions leases due deletions; see store.Lifecycle.
func (s *Store) ClaimDeletions(ctx context.Context, now, leaseUntil time.Time, limit int) ([]*store.Deletion, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("claim deletions: limit %d is not positive", limit)
	}
	var ds []*store.Deletion
	err := s.inWrite(ctx, "claim deletions", func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `UPDATE object_deletions SET next_attempt = ?, attempts = attempts + 1
			WHERE id IN (
				SELECT id FROM object_deletions WHERE next_attempt <= ?
				ORDER BY next_attempt, id LIMIT ?)
			RETURNING `+deletionColumns, store.KeepTime(leaseUntil).UnixMicro(), now.UnixMicro(), limit)
		if err != nil {
			return s.fail("claim deletions", err)
		}
		defer rows.Close()
		for rows.Next() {
			d, err := scanDeletion(rows)
			if err != nil {
				return s.fail("claim deletions", err)
			}
			ds = append(ds, d)
		}
		if err := rows.Err(); err != nil {
			return s.fail("claim deletions", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sortDeletions(ds)
	return ds, nil
}

// FinishDeletion removes a deletion from the queue; see store.Lifecycle.
func (s *Store) FinishDeletion(ctx context.Context, id int64) error {
	op := fmt.Sprintf("finish deletion %d", id)
	return s.inWrite(ctx, op, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM object_deletions WHERE id = ?`, id); err != nil {
			return s.fail(op, err)
		}
		return nil
	})
}

// RetryDeletion reschedules a failed deletion; see store.Lifecycle.
func (s *Store) RetryDeletion(ctx context.Context, id int64, dueAt time.Time, lastErr string) error {
	op := fmt.Sprintf("retry deletion %d", id)
	return s.inWrite(ctx, op, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE object_deletions SET next_attempt = ?, last_error = ? WHERE id = ?`,
			store.KeepTime(dueAt).UnixMicro(), lastErr, id)
		if err != nil {
			return s.fail(op, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return s.fail(op, err)
		} else if n == 0 {
			return fmt.Errorf("%s: %w", op, store.ErrNotFound)
		}
		return nil
	})
}

// ClaimObjectChecks picks READY files to check; see store.Lifecycle.
func (s *Store) ClaimObjectChecks(ctx context.Context, checkedBefore, now time.Time, limit int) ([]*store.File, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("claim object checks: limit %d is not positive", limit)
	}
	var files []*store.File
	err := s.inWrite(ctx, "claim object checks", func(tx *sql.Tx) error {
		var err error
		files, err = queryFiles(ctx, tx, `UPDATE files SET checked_at = ?
			WHERE id IN (
				SELECT id FROM files WHERE state = 'READY' AND (checked_at IS NULL OR checked_at < ?)
				ORDER BY checked_at, id LIMIT ?)
			RETURNING `+readColumns, store.KeepTime(now).UnixMicro(), checkedBefore.UnixMicro(), limit)
		if err != nil {
			return s.fail("claim object checks", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sortByID(files)
	return files, nil
}

// SetObjectMissing flags or clears a READY file's missing object; see
// store.Lifecycle.
func (s *Store) SetObjectMissing(ctx context.Context, tenant, id string, missing bool, at time.Time) error {
	op := "set object missing of file " + id
	q := `UPDATE files SET object_missing_since = NULL WHERE id = ? AND tenant = ? AND state = 'READY'`
	args := []any{id, tenant}
	if missing {
		q = `UPDATE files SET object_missing_since = COALESCE(object_missing_since, ?)
			WHERE id = ? AND tenant = ? AND state = 'READY'`
		args = []any{store.KeepTime(at).UnixMicro(), id, tenant}
	}
	return s.inWrite(ctx, op, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return s.fail(op, err)
		}
		return nil
	})
}

// holdsMultipartUpload is HoldsMultipartUpload's statement. It repeats
// the conditions of the partial index so that SQLite uses it.
const holdsMultipartUpload = `SELECT EXISTS (SELECT 1 FROM files
	WHERE backend = ? AND multipart_upload_id = ? AND state = 'PENDING' AND multipart_upload_id <> '')`

// HoldsMultipartUpload tells whether a PENDING file holds a multipart
// upload; see store.Lifecycle. It reads the partial index
// files_pending_multipart (migration 0012).
func (s *Store) HoldsMultipartUpload(ctx context.Context, backend, uploadID string) (bool, error) {
	if uploadID == "" {
		return false, nil
	}
	var held bool
	err := s.queryRow(ctx, holdsMultipartUpload, backend, uploadID).Scan(&held)
	if err != nil {
		return false, s.fail("look up multipart upload "+uploadID, err)
	}
	return held, nil
}

// queryFiles runs q and reads every row it returns as a file.
func queryFiles(ctx context.Context, tx *sql.Tx, q string, args ...any) ([]*store.File, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var files []*store.File
	for rows.Next() {
		f, err := scanFile(rows)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	return files, rows.Err()
}

func scanDeletion(r scanner) (*store.Deletion, error) {
	var d store.Deletion
	var created, next int64
	if err := r.Scan(&d.ID, &d.Backend, &d.Key, &d.FileID, &d.Tenant, &d.Reason, &d.MultipartUploadID,
		&d.Attempts, &d.LastError, &created, &next); err != nil {
		return nil, err
	}
	d.CreatedAt, d.NotBefore = time.UnixMicro(created).UTC(), time.UnixMicro(next).UTC()
	return &d, nil
}

// RETURNING rows come in no promised order; these put them in the order
// the postgres driver returns.

func sortByExpiry(files []*store.File) {
	slices.SortFunc(files, func(a, b *store.File) int {
		if c := a.UploadExpires.Compare(b.UploadExpires); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

func sortByID(files []*store.File) {
	slices.SortFunc(files, func(a, b *store.File) int { return strings.Compare(a.ID, b.ID) })
}

func sortDeletions(ds []*store.Deletion) {
	slices.SortFunc(ds, func(a, b *store.Deletion) int { return cmp.Compare(a.ID, b.ID) })
}
