package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/presignd/presignd/store"
)

// RecordDownloadURL counts a download URL; see store.Files. It is one
// UPDATE on the write connection, prepared once there like UpdateFile's
// statements, with no read first: its cost is one small write
// transaction. Once it holds the write connection the caller's
// cancellation no longer interrupts it.
func (s *Store) RecordDownloadURL(ctx context.Context, tenant, id string, at time.Time) error {
	op := "record download url of file " + id
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	ctx = context.WithoutCancel(ctx)
	tx := preparedConn{s}
	return s.inPreparedWrite(ctx, op, func(*sql.Conn) error {
		res, err := tx.ExecContext(ctx, `UPDATE files SET download_url_count = download_url_count + 1,
			last_url_at = max(coalesce(last_url_at, 0), ?) WHERE id = ? AND tenant = ?`,
			store.KeepTime(at).UnixMicro(), id, tenant)
		if err != nil {
			return s.fail(op, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return s.fail(op, err)
		}
		if n == 0 {
			return fmt.Errorf("%s: %w", op, store.ErrNotFound)
		}
		return nil
	})
}

// FindByContent finds a READY file by checksum and size; see store.Files.
// The partial index files_ready_content (migration 0018) holds only READY
// files with a checksum.
func (s *Store) FindByContent(ctx context.Context, tenant string, q store.ContentQuery) (*store.File, error) {
	op := "find file by content"
	if q.ChecksumValue == "" {
		return nil, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	f, err := scanFile(s.queryRow(ctx, `SELECT `+readColumns+` FROM files
		WHERE tenant = ? AND scope = ? AND checksum_value = ? AND size_bytes = ?
			AND checksum_algorithm = ? AND state = 'READY' AND checksum_value <> ''
		ORDER BY completed_at DESC, id DESC LIMIT 1`,
		tenant, q.Scope, q.ChecksumValue, q.SizeBytes, q.ChecksumAlgorithm))
	if err != nil {
		return nil, s.failGet(op, err)
	}
	return f, nil
}

// RetainedFiles lists the READY files a retention period has run out for;
// see store.Lifecycle. The partial index files_ready_completed (migration
// 0018) holds only READY files.
func (s *Store) RetainedFiles(ctx context.Context, category string, completedBefore time.Time, limit int) ([]*store.File, error) {
	if limit <= 0 {
		return nil, errors.New("retained files: limit must be positive")
	}
	rows, err := s.query(ctx, `SELECT `+readColumns+` FROM files
		WHERE category = ? AND state = 'READY' AND completed_at <= ?
		ORDER BY completed_at, id LIMIT ?`, category, store.KeepTime(completedBefore).UnixMicro(), limit)
	if err != nil {
		return nil, s.fail("retained files of "+category, err)
	}
	defer rows.Close()
	var files []*store.File
	for rows.Next() {
		f, err := scanFile(rows)
		if err != nil {
			return nil, s.fail("retained files of "+category, err)
		}
		files = append(files, f)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail("retained files of "+category, err)
	}
	return files, nil
}
