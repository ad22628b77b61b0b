package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"slices"
	"time"

	"github.com/presignd/presignd/store"
)

// APIKeyPrefix starts every API key presignd generates.
const APIKeyPrefix = "psk_"

// maxCredentialLen bounds any credential presignd will look at; longer ones
// are refused before any parsing or lookup.
const maxCredentialLen = 8 << 10

// maxAPIKeyLen bounds an API key (generated keys are 36 bytes; keys chosen
// through PRESIGND_DEV_API_KEY may be longer).
const maxAPIKeyLen = 256

// apiKeyEncoding is lower-case base32 without padding: unambiguous and safe
// in headers and shells.
var apiKeyEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// GenerateAPIKey returns a new API key with 160 bits of entropy:
// "psk_" and 32 base32 characters.
func GenerateAPIKey() (string, error) {
	var b [20]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate api key: %w", err)
	}
	return APIKeyPrefix + apiKeyEncoding.EncodeToString(b[:]), nil
}

// HashAPIKey returns the SHA-256 digest under which a key is stored. Keys
// are high-entropy secrets, so a fast unsalted hash is enough: nobody can
// guess a key from its hash, and the digest is the lookup key.
func HashAPIKey(key string) []byte {
	sum := sha256.Sum256([]byte(key))
	return sum[:]
}

// APIKeyDisplayPrefix returns the part of a key that may be shown to people
// to tell keys apart: "psk_" and 8 characters (40 of its 160 bits), which
// leaves 120 secret bits.
func APIKeyDisplayPrefix(key string) string {
	if len(key) > 12 {
		return key[:12]
	}
	return key
}

// NewKeyOptions describe an API key to create.
type NewKeyOptions struct {
	Tenant string
	// Scopes must be non-empty and all known.
	Scopes []string
	// Categories, when not empty, limit the key to these categories.
	Categories []string
	// TTL, when positive, makes the key expire TTL after Now.
	TTL time.Duration
	// Now is the creation time; time.Now when zero.
	Now time.Time
}

// NewAPIKey generates a key and the record to store for it. The secret is
// returned once and never stored. It refuses an invalid tenant, an empty
// or unknown scope, and a negative TTL.
func NewAPIKey(opts NewKeyOptions) (secret string, rec *store.APIKey, err error) {
	if !ValidTenant(opts.Tenant) {
		return "", nil, fmt.Errorf("tenant %q: must be 1-128 letters, digits, '_' or '-'", opts.Tenant)
	}
	if len(opts.Scopes) == 0 {
		return "", nil, fmt.Errorf("scopes: at least one of %v is required", AllScopes)
	}
	for _, s := range opts.Scopes {
		if !ValidScope(s) {
			return "", nil, fmt.Errorf("scopes: unknown scope %q (known: %v)", s, AllScopes)
		}
	}
	for _, c := range opts.Categories {
		if c == "" || len(c) > 64 {
			return "", nil, fmt.Errorf("categories: %q is not a category name", c)
		}
	}
	if opts.TTL < 0 {
		return "", nil, fmt.Errorf("ttl: must not be negative")
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	now = now.UTC().Truncate(time.Microsecond) // what the stores keep
	secret, err = GenerateAPIKey()
	if err != nil {
		return "", nil, err
	}
	var id [10]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", nil, fmt.Errorf("generate api key id: %w", err)
	}
	rec = &store.APIKey{
		ID:        "ak_" + apiKeyEncoding.EncodeToString(id[:]),
		Tenant:    opts.Tenant,
		Prefix:    APIKeyDisplayPrefix(secret),
		Hash:      HashAPIKey(secret),
		Scopes:    cleanScopes(opts.Scopes),
		CreatedAt: now.UTC(),
	}
	if len(opts.Categories) > 0 {
		rec.Categories = slices.Compact(slices.Sorted(slices.Values(opts.Categories)))
	}
	if opts.TTL > 0 {
		rec.ExpiresAt = now.Add(opts.TTL).UTC().Truncate(time.Microsecond)
	}
	return secret, rec, nil
}
