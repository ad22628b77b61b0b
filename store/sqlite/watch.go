package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/presignd/presignd/store"
	"github.com/presignd/presignd/store/internal/sqlfiles"
)

// WatchKey records a key to watch; see store.KeyWatch.
func (s *Store) WatchKey(ctx context.Context, w *store.WatchedKey) error {
	sqlfiles.PrepareWatchKey(w, time.Now())
	op := "watch key of file " + w.FileID
	return s.inWrite(ctx, op, func(tx *sql.Tx) error {
		got, err := scanWatchedKey(tx.QueryRowContext(ctx, `INSERT INTO watched_keys
			(`+sqlfiles.WatchedKeyInsertColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)
			RETURNING `+sqlfiles.WatchedKeyColumns,
			w.Backend, w.Key, w.FileID, w.Tenant, store.KeepTime(w.Until).UnixMicro(),
			store.KeepTime(w.CreatedAt).UnixMicro(), store.KeepTime(w.NextCheck).UnixMicro()))
		if err != nil {
			return s.fail(op, err)
		}
		*w = *got
		return nil
	})
}

// ClaimWatchedKeys leases due watched keys; see store.KeyWatch. It runs in
// one write transaction, which the database's single writer makes
// exclusive.
func (s *Store) ClaimWatchedKeys(ctx context.Context, now, nextCheck time.Time, limit int) ([]*store.WatchedKey, error) {
	if err := sqlfiles.CheckClaimLimit(limit); err != nil {
		return nil, err
	}
	var ws []*store.WatchedKey
	err := s.inWrite(ctx, "claim watched keys", func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `UPDATE watched_keys SET next_check = ?
			WHERE id IN (
				SELECT id FROM watched_keys WHERE next_check <= ?
				ORDER BY next_check, id LIMIT ?)
			RETURNING `+sqlfiles.WatchedKeyColumns, store.KeepTime(nextCheck).UnixMicro(), now.UnixMicro(), limit)
		if err != nil {
			return s.fail("claim watched keys", err)
		}
		for rows.Next() {
			w, err := scanWatchedKey(rows)
			if err != nil {
				rows.Close()
				return s.fail("claim watched keys", err)
			}
			ws = append(ws, w)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return s.fail("claim watched keys", err)
		}
		for _, w := range ws {
			err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM files
				WHERE id = ? AND tenant = ? AND state IN ('PENDING', 'READY', 'SCANNING'))`, w.FileID, w.Tenant).Scan(&w.FileLive)
			if err != nil {
				return s.fail("claim watched keys: file of "+w.FileID, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sortWatchedKeys(ws)
	return ws, nil
}

// UnwatchKey forgets a watched key; see store.KeyWatch.
func (s *Store) UnwatchKey(ctx context.Context, id int64) error {
	op := fmt.Sprintf("unwatch key %d", id)
	return s.inWrite(ctx, op, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM watched_keys WHERE id = ?`, id); err != nil {
			return s.fail(op, err)
		}
		return nil
	})
}

func scanWatchedKey(r scanner) (*store.WatchedKey, error) {
	var w store.WatchedKey
	var until, created, next int64
	if err := r.Scan(&w.ID, &w.Backend, &w.Key, &w.FileID, &w.Tenant, &until, &created, &next); err != nil {
		return nil, err
	}
	w.Until = time.UnixMicro(until).UTC()
	w.CreatedAt = time.UnixMicro(created).UTC()
	w.NextCheck = time.UnixMicro(next).UTC()
	return &w, nil
}

// sortWatchedKeys puts claimed keys in ID order, as the postgres driver
// returns them (RETURNING rows come in no promised order).
func sortWatchedKeys(ws []*store.WatchedKey) {
	slices.SortFunc(ws, func(a, b *store.WatchedKey) int { return cmp.Compare(a.ID, b.ID) })
}
