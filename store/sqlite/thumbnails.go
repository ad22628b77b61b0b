package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/presignd/presignd/store"
	"github.com/presignd/presignd/store/internal/sqlfiles"
)

// SetThumbnails records a READY file's thumbnails; see store.Files.
func (s *Store) SetThumbnails(ctx context.Context, tenant, id string, thumbs []store.Thumbnail) error {
	op := "set thumbnails of file " + id
	b, err := sqlfiles.EncodeThumbnails(thumbs)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return s.inWrite(ctx, op, func(tx *sql.Tx) error {
		var state string
		err := tx.QueryRowContext(ctx, `UPDATE files SET thumbnails = CASE WHEN state = 'READY' THEN ? ELSE thumbnails END
			WHERE id = ? AND tenant = ? RETURNING state`, nullBytes(b), id, tenant).Scan(&state)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%s: %w", op, store.ErrNotFound)
		}
		if err != nil {
			return s.fail(op, err)
		}
		if store.State(state) != store.StateReady {
			return fmt.Errorf("%s: %w: the file is %s, not READY", op, store.ErrConflict, state)
		}
		return nil
	})
}

// nullBytes is b as a TEXT value, NULL when b is nil.
func nullBytes(b []byte) any {
	if b == nil {
		return nil
	}
	return string(b)
}

// queueThumbnails queues the deletion of f's thumbnails' objects in tx,
// as DeleteFileAndQueueObject does its object's.
func (s *Store) queueThumbnails(ctx context.Context, tx *sql.Tx, f *store.File, now, dueAt int64) error {
	for _, t := range f.Thumbnails {
		if _, err := tx.ExecContext(ctx, `INSERT INTO object_deletions
			(backend, object_key, file_id, tenant, reason, multipart_upload_id, created_at, next_attempt)
			VALUES (?, ?, ?, ?, ?, '', ?, ?)`,
			f.Backend, t.Key, f.ID, f.Tenant, store.DeletionDeleted, now, dueAt); err != nil {
			return err
		}
	}
	return nil
}
