package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/presignd/presignd/store"
	"github.com/presignd/presignd/store/internal/sqlfiles"
)

// WatchKey records a key to watch; see store.KeyWatch.
func (s *Store) WatchKey(ctx context.Context, w *store.WatchedKey) error {
	sqlfiles.PrepareWatchKey(w, time.Now())
	op := "watch key of file " + w.FileID
	rows, err := s.pool.Query(ctx, `INSERT INTO watched_keys
		(`+sqlfiles.WatchedKeyInsertColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)
		RETURNING `+sqlfiles.WatchedKeyColumns+`, false`,
		w.Backend, w.Key, w.FileID, w.Tenant, store.KeepTime(w.Until), store.KeepTime(w.CreatedAt), store.KeepTime(w.NextCheck))
	if err != nil {
		return s.fail(op, err)
	}
	got, err := pgx.CollectExactlyOneRow(rows, scanWatchedKey)
	if err != nil {
		return s.fail(op, err)
	}
	*w = *got
	return nil
}

// ClaimWatchedKeys leases due watched keys; see store.KeyWatch. Rows
// another replica is claiming are skipped (FOR UPDATE SKIP LOCKED), and a
// row claimed meanwhile fails the due check on re-evaluation.
func (s *Store) ClaimWatchedKeys(ctx context.Context, now, nextCheck time.Time, limit int) ([]*store.WatchedKey, error) {
	if err := sqlfiles.CheckClaimLimit(limit); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `WITH due AS MATERIALIZED (
			SELECT id AS due_id FROM watched_keys WHERE next_check <= $1
			ORDER BY next_check, id LIMIT $3 FOR UPDATE SKIP LOCKED
		), claimed AS (
			UPDATE watched_keys SET next_check = $2
			FROM due WHERE id = due_id AND next_check <= $1
			RETURNING `+sqlfiles.WatchedKeyColumns+`
		)
		SELECT claimed.*, EXISTS (SELECT 1 FROM files f
			WHERE f.id = claimed.file_id AND f.tenant = claimed.tenant AND f.state IN ('PENDING', 'READY', 'SCANNING'))
		FROM claimed ORDER BY id`,
		now, store.KeepTime(nextCheck), limit)
	if err != nil {
		return nil, s.fail("claim watched keys", err)
	}
	ws, err := pgx.CollectRows(rows, scanWatchedKey)
	if err != nil {
		return nil, s.fail("claim watched keys", err)
	}
	return ws, nil
}

// UnwatchKey forgets a watched key; see store.KeyWatch.
func (s *Store) UnwatchKey(ctx context.Context, id int64) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM watched_keys WHERE id = $1`, id); err != nil {
		return s.fail(fmt.Sprintf("unwatch key %d", id), err)
	}
	return nil
}

// scanWatchedKey reads sqlfiles.WatchedKeyColumns followed by the file's liveness.
func scanWatchedKey(r pgx.CollectableRow) (*store.WatchedKey, error) {
	var w store.WatchedKey
	err := r.Scan(&w.ID, &w.Backend, &w.Key, &w.FileID, &w.Tenant, &w.Until, &w.CreatedAt, &w.NextCheck, &w.FileLive)
	w.Until, w.CreatedAt, w.NextCheck = w.Until.UTC(), w.CreatedAt.UTC(), w.NextCheck.UTC()
	return &w, err
}
