package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/presignd/presignd/store"
)

// ExpiringUploads lists the PENDING uploads past their expiry, oldest
// first; see store.Lifecycle. It reads on a reader connection and changes nothing.
func (s *Store) ExpiringUploads(ctx context.Context, expiredBefore time.Time, limit int) ([]*store.File, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("expiring uploads: limit %d is not positive", limit)
	}
	rows, err := s.query(ctx, `SELECT `+readColumns+` FROM files WHERE state = 'PENDING' AND upload_expires <= ?
		ORDER BY upload_expires, id LIMIT ?`, expiredBefore.UnixMicro(), limit)
	if err != nil {
		return nil, s.fail("expiring uploads", err)
	}
	defer rows.Close()
	var files []*store.File
	for rows.Next() {
		f, err := scanFile(rows)
		if err != nil {
			return nil, s.fail("expiring uploads", err)
		}
		files = append(files, f)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail("expiring uploads", err)
	}
	return files, nil
}
