package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

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
	var arg any // NULL for none
	if b != nil {
		arg = string(b)
	}
	var state string
	err = s.pool.QueryRow(ctx, `UPDATE files SET thumbnails = CASE WHEN state = 'READY' THEN $1::jsonb ELSE thumbnails END
		WHERE id = $2 AND tenant = $3 RETURNING state`, arg, id, tenant).Scan(&state)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	if err != nil {
		return s.fail(op, err)
	}
	if store.State(state) != store.StateReady {
		return fmt.Errorf("%s: %w: the file is %s, not READY", op, store.ErrConflict, state)
	}
	return nil
}
