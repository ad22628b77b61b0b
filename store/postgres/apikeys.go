package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/presignd/presignd/store"
	"github.com/presignd/presignd/store/internal/sqlfiles"
)

const apiKeyColumns = sqlfiles.APIKeyColumns

// CreateAPIKey inserts k; store.ErrAlreadyExists when its ID or hash is
// taken, store.ErrNotFound when it has a parent that is not a live key of
// its tenant.
func (s *Store) CreateAPIKey(ctx context.Context, k *store.APIKey) error {
	op := "create API key " + k.ID
	// The parent is read FOR SHARE: a revocation that has updated it makes
	// this insert wait and then see it revoked, and one that comes later
	// waits for the insert, so its sweep of the parent's keys sees this one.
	tag, err := s.pool.Exec(ctx, `INSERT INTO api_keys (`+apiKeyColumns+`)
		SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12
		WHERE $10::text IS NULL OR EXISTS (
			SELECT 1 FROM api_keys WHERE tenant = $2 AND id = $10 AND revoked_at IS NULL FOR SHARE)`,
		k.ID, k.Tenant, k.Prefix, k.Hash, list(k.Scopes), list(k.Categories),
		timestamp(k.CreatedAt), timestamp(k.ExpiresAt), timestamp(k.RevokedAt),
		text(k.ParentID), text(k.CreatorIssuer), text(k.CreatorSubject))
	if err != nil {
		return s.fail(op, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%s: parent key %s: %w", op, k.ParentID, store.ErrNotFound)
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
// revocation, and revokes the keys it created, transitively;
// store.ErrNotFound for a key of another tenant.
func (s *Store) RevokeAPIKey(ctx context.Context, tenant, id string, at time.Time) (*store.APIKey, error) {
	op := "revoke API key " + id
	var k *store.APIKey
	err := s.inTx(ctx, op, func(tx pgx.Tx) error {
		var err error
		k, err = scanAPIKey(tx.QueryRow(ctx, `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $3)
			WHERE tenant = $1 AND id = $2 RETURNING `+apiKeyColumns, tenant, id, timestamp(at)))
		if err != nil {
			return s.failGet(op, err)
		}
		// Each statement sees the keys committed before it started. A key
		// created under a descendant while one statement runs is caught by
		// the next; the loop ends when a statement finds nothing left, and
		// from then on every key of the tree is revoked (and locked until
		// commit), so CreateAPIKey refuses new children.
		for {
			tag, err := tx.Exec(ctx, `WITH RECURSIVE descendants(id) AS (
					SELECT id FROM api_keys WHERE tenant = $1 AND parent_id = $2
					UNION
					SELECT c.id FROM api_keys c JOIN descendants d ON c.parent_id = d.id WHERE c.tenant = $1
				)
				UPDATE api_keys SET revoked_at = $3
				WHERE tenant = $1 AND id IN (SELECT id FROM descendants) AND revoked_at IS NULL`, tenant, id, timestamp(at))
			if err != nil {
				return s.fail(op+": revoke the keys it created", err)
			}
			if tag.RowsAffected() == 0 {
				return nil
			}
		}
	})
	if err != nil {
		return nil, err
	}
	return k, nil
}

func scanAPIKey(r pgx.Row) (*store.APIKey, error) {
	var (
		k                         store.APIKey
		created, expires, revoked pgtype.Timestamptz
		parent, issuer, subject   pgtype.Text
	)
	if err := r.Scan(&k.ID, &k.Tenant, &k.Prefix, &k.Hash, &k.Scopes, &k.Categories, &created, &expires, &revoked,
		&parent, &issuer, &subject); err != nil {
		return nil, err
	}
	k.ParentID, k.CreatorIssuer, k.CreatorSubject = parent.String, issuer.String, subject.String
	if len(k.Scopes) == 0 {
		k.Scopes = nil
	}
	if len(k.Categories) == 0 {
		k.Categories = nil
	}
	k.CreatedAt, k.ExpiresAt, k.RevokedAt = fromTimestamp(created), fromTimestamp(expires), fromTimestamp(revoked)
	return &k, nil
}

// text is v, or NULL when it is empty.
func text(v string) any {
	if v == "" {
		return nil
	}
	return v
}

// list is v, or NULL when it is empty.
func list(v []string) any {
	if len(v) == 0 {
		return nil
	}
	return v
}
