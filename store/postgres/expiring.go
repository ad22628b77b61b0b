package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/presignd/presignd/store"
)

// ExpiringUploads lists the PENDING uploads past their expiry, oldest
// first; see store.Lifecycle. It changes nothing and takes no locks.
func (s *Store) ExpiringUploads(ctx context.Context, expiredBefore time.Time, limit int) ([]*store.File, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("expiring uploads: limit %d is not positive", limit)
	}
	rows, err := s.pool.Query(ctx, `SELECT `+readColumns+` FROM files WHERE state = 'PENDING' AND upload_expires <= $1
		ORDER BY upload_expires, id LIMIT $2`, expiredBefore, limit)
	if err != nil {
		return nil, s.fail("expiring uploads", err)
	}
	files, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*store.File, error) { return scanFile(r) })
	if err != nil {
		return nil, s.fail("expiring uploads", err)
	}
	return files, nil
}
