package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/presignd/presignd/store"
	"github.com/presignd/presignd/store/internal/sqlfiles"
)

const apiKeyColumns = sqlfiles.APIKeyColumns

// CreateAPIKey inserts k; store.ErrAlreadyExists when its ID or hash is
// taken.
func (s *Store) CreateAPIKey(ctx context.Context, k *store.APIKey) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO api_keys (`+apiKeyColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		k.ID, k.Tenant, k.Prefix, k.Hash, list(k.Scopes), list(k.Categories),
		timestamp(k.CreatedAt), timestamp(k.ExpiresAt), timestamp(k.RevokedAt))
	if err != nil {
		return s.fail("create API key "+k.ID, err)
	}
	return nil
}

// GetAPIKeyByHash returns the key with this hash, or store.ErrNotFound.
func (s *Store) GetAPIKeyByHash(ctx context.Context, hash []byte) (*store.APIKey, error) {
	k, err := scanAPIKey(s.pool.QueryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE hash = $1`, hash))
	if err != nil {
		return nil, s.failGet("get API key by hash", err)
	}
	return k, nil
}

// ListAPIKeys returns the tenant's keys, newest first.
func (s *Store) ListAPIKeys(ctx context.Context, tenant string) ([]*store.APIKey, error) {
	op := "list API keys of " + tenant
	rows, err := s.pool.Query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys
		WHERE tenant = $1 ORDER BY created_at DESC, id DESC`, tenant)
	if err != nil {
		return nil, s.fail(op, err)
	}
	defer rows.Close()
	var keys []*store.APIKey
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, s.fail(op, err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(op, err)
	}
	return keys, nil
}

// RevokeAPIKey marks the tenant's key revoked at at, keeping an earlier
// revocation; store.ErrNotFound for a key of another tenant.
func (s *Store) RevokeAPIKey(ctx context.Context, tenant, id string, at time.Time) (*store.APIKey, error) {
	k, err := scanAPIKey(s.pool.QueryRow(ctx, `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $3)
		WHERE tenant = $1 AND id = $2 RETURNING `+apiKeyColumns, tenant, id, timestamp(at)))
	if err != nil {
		return nil, s.failGet("revoke API key "+id, err)
	}
	return k, nil
}

func scanAPIKey(r pgx.Row) (*store.APIKey, error) {
	var (
		k                         store.APIKey
		created, expires, revoked pgtype.Timestamptz
	)
	if err := r.Scan(&k.ID, &k.Tenant, &k.Prefix, &k.Hash, &k.Scopes, &k.Categories, &created, &expires, &revoked); err != nil {
		return nil, err
	}
	if len(k.Scopes) == 0 {
		k.Scopes = nil
	}
	if len(k.Categories) == 0 {
		k.Categories = nil
	}
	k.CreatedAt, k.ExpiresAt, k.RevokedAt = fromTimestamp(created), fromTimestamp(expires), fromTimestamp(revoked)
	return &k, nil
}

// list is v, or NULL when it is empty.
func list(v []string) any {
	if len(v) == 0 {
		return nil
	}
	return v
}
