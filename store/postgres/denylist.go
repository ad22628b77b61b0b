package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/presignd/presignd/store"
)

// AddDenyEntry inserts e; store.ErrAlreadyExists when the tenant already
// denies that value.
func (s *Store) AddDenyEntry(ctx context.Context, e *store.DenyEntry) error {
	op := fmt.Sprintf("add deny entry %s/%s.%s", e.Category, e.Field, e.Value)
	_, err := s.pool.Exec(ctx, `INSERT INTO deny_entries (tenant, category, field, value, reason, created_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, e.Tenant, e.Category, e.Field, e.Value, e.Reason, e.CreatedAt.UTC())
	if err != nil {
		return s.fail(op, err)
	}
	return nil
}

// RemoveDenyEntry deletes the tenant's entry, or returns store.ErrNotFound.
func (s *Store) RemoveDenyEntry(ctx context.Context, tenant, category, field, value string) error {
	op := fmt.Sprintf("remove deny entry %s/%s.%s", category, field, value)
	tag, err := s.pool.Exec(ctx, `DELETE FROM deny_entries WHERE tenant = $1 AND category = $2 AND field = $3 AND value = $4`,
		tenant, category, field, value)
	if err != nil {
		return s.fail(op, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	return nil
}

// ListDenyEntries returns the tenant's entries by category, field and value.
func (s *Store) ListDenyEntries(ctx context.Context, tenant string) ([]store.DenyEntry, error) {
	op := "list deny entries of " + tenant
	rows, err := s.pool.Query(ctx, `SELECT category, field, value, reason, created_at FROM deny_entries
		WHERE tenant = $1 ORDER BY category COLLATE "C", field COLLATE "C", value COLLATE "C"`, tenant)
	if err != nil {
		return nil, s.fail(op, err)
	}
	defer rows.Close()
	var out []store.DenyEntry
	for rows.Next() {
		e := store.DenyEntry{Tenant: tenant}
		var created pgtype.Timestamptz
		if err := rows.Scan(&e.Category, &e.Field, &e.Value, &e.Reason, &created); err != nil {
			return nil, s.fail(op, err)
		}
		e.CreatedAt = fromTimestamp(created)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(op, err)
	}
	return out, nil
}
