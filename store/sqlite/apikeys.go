package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/presignd/presignd/store"
	"github.com/presignd/presignd/store/internal/sqlfiles"
)

const apiKeyColumns = sqlfiles.APIKeyColumns

// CreateAPIKey inserts k; store.ErrAlreadyExists when its ID or hash is
// taken, store.ErrNotFound when it has a parent that is not a live key of
// its tenant.
func (s *Store) CreateAPIKey(ctx context.Context, k *store.APIKey) error {
	op := "create API key " + k.ID
	scopes, err := encodeList(k.Scopes)
	if err != nil {
		return fmt.Errorf("%s: encode scopes: %w", op, err)
	}
	categories, err := encodeList(k.Categories)
	if err != nil {
		return fmt.Errorf("%s: encode categories: %w", op, err)
	}
	return s.inWrite(ctx, op, func(tx *sql.Tx) error {
		if k.ParentID != "" {
			// The one writer serialises this check with any revocation.
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM api_keys WHERE tenant = ? AND id = ? AND revoked_at IS NULL`,
				k.Tenant, k.ParentID).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("%s: parent key %s: %w", op, k.ParentID, store.ErrNotFound)
			}
			if err != nil {
				return s.fail(op, err)
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO api_keys (`+apiKeyColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			k.ID, k.Tenant, k.Prefix, k.Hash, scopes, categories, micros(k.CreatedAt), micros(k.ExpiresAt), micros(k.RevokedAt),
			nullText(k.ParentID), nullText(k.CreatorIssuer), nullText(k.CreatorSubject))
		if err != nil {
			return s.fail(op, err)
		}
		return nil
	})
}

// GetAPIKeyByHash returns the key with this hash, or store.ErrNotFound.
func (s *Store) GetAPIKeyByHash(ctx context.Context, hash []byte) (*store.APIKey, error) {
	k, err := scanAPIKey(s.queryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE hash = ?`, hash))
	if err != nil {
		return nil, s.failGet("get API key by hash", err)
	}
	return k, nil
}

// ListAPIKeys returns the tenant's keys, newest first.
func (s *Store) ListAPIKeys(ctx context.Context, tenant string) ([]*store.APIKey, error) {
	op := "list API keys of " + tenant
	rows, err := s.query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys
		WHERE tenant = ? ORDER BY created_at DESC, id DESC`, tenant)
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
	err := s.inWrite(ctx, op, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = ?
			WHERE tenant = ? AND id = ? AND revoked_at IS NULL`, micros(at), tenant, id); err != nil {
			return s.fail(op, err)
		}
		var err error
		k, err = scanAPIKey(tx.QueryRowContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE tenant = ? AND id = ?`, tenant, id))
		if err != nil {
			return s.failGet(op, err)
		}
		if _, err := tx.ExecContext(ctx, `WITH RECURSIVE descendants(id) AS (
				SELECT id FROM api_keys WHERE tenant = ?1 AND parent_id = ?2
				UNION
				SELECT c.id FROM api_keys c JOIN descendants d ON c.parent_id = d.id WHERE c.tenant = ?1
			)
			UPDATE api_keys SET revoked_at = ?3
			WHERE tenant = ?1 AND id IN (SELECT id FROM descendants) AND revoked_at IS NULL`, tenant, id, micros(at)); err != nil {
			return s.fail(op+": revoke the keys it created", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return k, nil
}

func scanAPIKey(r scanner) (*store.APIKey, error) {
	var (
		k                         store.APIKey
		scopes, categories        sql.NullString
		created, expires, revoked sql.NullInt64
		parent, issuer, subject   sql.NullString
	)
	if err := r.Scan(&k.ID, &k.Tenant, &k.Prefix, &k.Hash, &scopes, &categories, &created, &expires, &revoked,
		&parent, &issuer, &subject); err != nil {
		return nil, err
	}
	k.ParentID, k.CreatorIssuer, k.CreatorSubject = parent.String, issuer.String, subject.String
	var err error
	if k.Scopes, err = decodeList(scopes); err != nil {
		return nil, fmt.Errorf("API key %s: decode scopes: %w", k.ID, err)
	}
	if k.Categories, err = decodeList(categories); err != nil {
		return nil, fmt.Errorf("API key %s: decode categories: %w", k.ID, err)
	}
	k.CreatedAt, k.ExpiresAt, k.RevokedAt = fromMicros(created), fromMicros(expires), fromMicros(revoked)
	return &k, nil
}

// nullText is v, or NULL when it is empty.
func nullText(v string) any {
	if v == "" {
		return nil
	}
	return v
}

// decodeList reads a JSON array of strings; NULL and [] are nil.
func decodeList(v sql.NullString) ([]string, error) {
	return sqlfiles.DecodeList(textBytes(v))
}

// encodeList is v as a JSON array in TEXT, or NULL when it is empty.
func encodeList(v []string) (any, error) {
	b, err := sqlfiles.EncodeList(v)
	return text(b), err
}
