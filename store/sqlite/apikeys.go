package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/presignd/presignd/store"
)

// CreateAPIKey inserts k; store.ErrAlreadyExists when its ID or hash is
// taken.
func (s *Store) CreateAPIKey(ctx context.Context, k *store.APIKey) error {
	op := "create API key " + k.ID
	scopes, err := encodeJSON(len(k.Scopes), k.Scopes)
	if err != nil {
		return fmt.Errorf("%s: encode scopes: %w", op, err)
	}
	return s.inWrite(ctx, op, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO api_keys (id, tenant, prefix, hash, scopes, created_at, expires_at, revoked_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			k.ID, k.Tenant, k.Prefix, k.Hash, scopes, micros(k.CreatedAt), micros(k.ExpiresAt), micros(k.RevokedAt))
		if err != nil {
			return s.fail(op, err)
		}
		return nil
	})
}

// GetAPIKeyByHash returns the key with this hash, or store.ErrNotFound.
func (s *Store) GetAPIKeyByHash(ctx context.Context, hash []byte) (*store.APIKey, error) {
	var (
		k                         store.APIKey
		scopes                    sql.NullString
		created, expires, revoked sql.NullInt64
	)
	err := s.reader.QueryRowContext(ctx, `SELECT id, tenant, prefix, hash, scopes, created_at, expires_at, revoked_at
		FROM api_keys WHERE hash = ?`, hash).
		Scan(&k.ID, &k.Tenant, &k.Prefix, &k.Hash, &scopes, &created, &expires, &revoked)
	if err != nil {
		return nil, s.failGet("get API key by hash", err)
	}
	if scopes.Valid {
		if err := json.Unmarshal([]byte(scopes.String), &k.Scopes); err != nil {
			return nil, fmt.Errorf("get API key %s: decode scopes: %w", k.ID, err)
		}
		if len(k.Scopes) == 0 {
			k.Scopes = nil
		}
	}
	k.CreatedAt, k.ExpiresAt, k.RevokedAt = fromMicros(created), fromMicros(expires), fromMicros(revoked)
	return &k, nil
}
