package postgres

import (
	"context"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/presignd/presignd/store"
)

// CreateAPIKey inserts k; store.ErrAlreadyExists when its ID or hash is
// taken.
func (s *Store) CreateAPIKey(ctx context.Context, k *store.APIKey) error {
	var scopes any
	if len(k.Scopes) > 0 {
		scopes = k.Scopes
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO api_keys (id, tenant, prefix, hash, scopes, created_at, expires_at, revoked_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		k.ID, k.Tenant, k.Prefix, k.Hash, scopes, timestamp(k.CreatedAt), timestamp(k.ExpiresAt), timestamp(k.RevokedAt))
	if err != nil {
		return s.fail("create API key "+k.ID, err)
	}
	return nil
}

// GetAPIKeyByHash returns the key with this hash, or store.ErrNotFound.
func (s *Store) GetAPIKeyByHash(ctx context.Context, hash []byte) (*store.APIKey, error) {
	var (
		k                         store.APIKey
		created, expires, revoked pgtype.Timestamptz
	)
	err := s.pool.QueryRow(ctx, `SELECT id, tenant, prefix, hash, scopes, created_at, expires_at, revoked_at
		FROM api_keys WHERE hash = $1`, hash).
		Scan(&k.ID, &k.Tenant, &k.Prefix, &k.Hash, &k.Scopes, &created, &expires, &revoked)
	if err != nil {
		return nil, s.failGet("get API key by hash", err)
	}
	if len(k.Scopes) == 0 {
		k.Scopes = nil
	}
	k.CreatedAt, k.ExpiresAt, k.RevokedAt = fromTimestamp(created), fromTimestamp(expires), fromTimestamp(revoked)
	return &k, nil
}
