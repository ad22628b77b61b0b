package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/presignd/presignd/store"
)

// AddDenyEntry inserts e; store.ErrAlreadyExists when the tenant already
// denies that value.
func (s *Store) AddDenyEntry(ctx context.Context, e *store.DenyEntry) error {
	op := fmt.Sprintf("add deny entry %s/%s.%s", e.Category, e.Field, e.Value)
	return s.inWrite(ctx, op, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO deny_entries (tenant, category, field, value, reason, created_at)
			VALUES (?, ?, ?, ?, ?, ?)`, e.Tenant, e.Category, e.Field, e.Value, e.Reason, e.CreatedAt.UnixMicro())
		if err != nil {
			return s.fail(op, err)
		}
		return nil
	})
}

// RemoveDenyEntry deletes the tenant's entry, or returns store.ErrNotFound.
func (s *Store) RemoveDenyEntry(ctx context.Context, tenant, category, field, value string) error {
	op := fmt.Sprintf("remove deny entry %s/%s.%s", category, field, value)
	return s.inWrite(ctx, op, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM deny_entries WHERE tenant = ? AND category = ? AND field = ? AND value = ?`,
			tenant, category, field, value)
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

// ListDenyEntries returns the tenant's entries by category, field and value.
func (s *Store) ListDenyEntries(ctx context.Context, tenant string) ([]store.DenyEntry, error) {
	op := "list deny entries of " + tenant
	rows, err := s.query(ctx, `SELECT category, field, value, reason, created_at FROM deny_entries
		WHERE tenant = ? ORDER BY category, field, value`, tenant)
	if err != nil {
		return nil, s.fail(op, err)
	}
	defer rows.Close()
	var out []store.DenyEntry
	for rows.Next() {
		e := store.DenyEntry{Tenant: tenant}
		var created sql.NullInt64
		if err := rows.Scan(&e.Category, &e.Field, &e.Value, &e.Reason, &created); err != nil {
			return nil, s.fail(op, err)
		}
		e.CreatedAt = fromMicros(created)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(op, err)
	}
	return out, nil
}
