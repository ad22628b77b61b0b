package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/presignd/presignd/store"
)

// RecordDownloadURL counts a download URL; see store.Files. It is one
// UPDATE in its own implicit transaction, with no read first.
func (s *Store) RecordDownloadURL(ctx context.Context, tenant, id string, at time.Time) error {
	op := "record download url of file " + id
	tag, err := s.pool.Exec(ctx, `UPDATE files SET download_url_count = download_url_count + 1,
		last_url_at = GREATEST(last_url_at, $1) WHERE id = $2 AND tenant = $3`,
		store.KeepTime(at), id, tenant)
	if err != nil {
		return s.fail(op, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	return nil
}

// FindByContent finds a READY file by checksum and size; see store.Files.
// The partial index files_ready_content (migration 0018) holds only READY
// files with a checksum.
func (s *Store) FindByContent(ctx context.Context, tenant string, q store.ContentQuery) (*store.File, error) {
	op := "find file by content"
	if q.ChecksumValue == "" {
		return nil, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	f, err := scanFile(s.pool.QueryRow(ctx, `SELECT `+readColumns+` FROM files
		WHERE tenant = $1 AND scope = $2 AND checksum_value = $3 AND size_bytes = $4
			AND checksum_algorithm = $5 AND state = 'READY' AND checksum_value <> ''
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
	rows, err := s.pool.Query(ctx, `SELECT `+readColumns+` FROM files
		WHERE category = $1 AND state = 'READY' AND completed_at <= $2
		ORDER BY completed_at, id LIMIT $3`, category, store.KeepTime(completedBefore), limit)
	if err != nil {
		return nil, s.fail("retained files of "+category, err)
	}
	files, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*store.File, error) { return scanFile(r) })
	if err != nil {
		return nil, s.fail("retained files of "+category, err)
	}
	return files, nil
}
