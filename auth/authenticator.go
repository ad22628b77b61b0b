package auth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/presignd/presignd/store"
)

// KeyLookup finds stored API keys by hash; store.Store implements it.
type KeyLookup interface {
	GetAPIKeyByHash(ctx context.Context, hash []byte) (*store.APIKey, error)
}

// Config configures an Authenticator.
type Config struct {
	// Keys looks API keys up; required.
	Keys KeyLookup
	// JWT verifies bearer JWTs; nil refuses every JWT.
	JWT *JWTVerifier
	// KeyCacheTTL, when positive, keeps looked-up API keys in memory for
	// that long (at most 30s). A key revoked elsewhere keeps working for
	// at most KeyCacheTTL; Forget drops a key, and ForgetTenant every key
	// of a tenant, at once. Expiry is checked on every call, cached or not.
	KeyCacheTTL time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// MaxKeyCacheTTL bounds Config.KeyCacheTTL, and so how long a revoked key
// can outlive its revocation on a replica that did not revoke it.
const MaxKeyCacheTTL = 30 * time.Second

// Authenticator turns credentials into Principals. It is safe for
// concurrent use.
type Authenticator struct {
	keys KeyLookup
	jwt  *JWTVerifier
	ttl  time.Duration
	now  func() time.Time

	mu    sync.Mutex
	cache map[[32]byte]cachedKey
}

type cachedKey struct {
	key     *store.APIKey
	fetched time.Time
}

// maxCachedKeys bounds the cache; past it, stale entries are swept and,
// if that is not enough, the cache starts over.
const maxCachedKeys = 10000

// New returns an Authenticator; it refuses a missing key lookup and a
// cache TTL over MaxKeyCacheTTL.
func New(cfg Config) (*Authenticator, error) {
	if cfg.Keys == nil {
		return nil, errors.New("auth: no API key lookup")
	}
	if cfg.KeyCacheTTL < 0 || cfg.KeyCacheTTL > MaxKeyCacheTTL {
		return nil, fmt.Errorf("auth: key cache TTL must be between 0 and %s", MaxKeyCacheTTL)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Authenticator{keys: cfg.Keys, jwt: cfg.JWT, ttl: cfg.KeyCacheTTL, now: cfg.Now, cache: map[[32]byte]cachedKey{}}, nil
}

// Authenticate checks c and returns its Principal. Every failure to
// authenticate is ErrUnauthenticated; other errors (the store is down)
// are returned wrapped as they are.
func (a *Authenticator) Authenticate(ctx context.Context, c Credential) (Principal, error) {
	switch c.Kind {
	case KindJWT:
		if a.jwt == nil {
			return Principal{}, fmt.Errorf("%w: JWTs are not accepted", ErrUnauthenticated)
		}
		return a.jwt.Verify(ctx, c.Value)
	case KindAPIKey:
		return a.apiKey(ctx, c.Value)
	}
	return Principal{}, ErrUnauthenticated
}

func (a *Authenticator) apiKey(ctx context.Context, secret string) (Principal, error) {
	if !wellFormed(secret, maxAPIKeyLen) {
		return Principal{}, ErrUnauthenticated
	}
	hash := [32]byte(HashAPIKey(secret))
	now := a.now()
	k, err := a.lookup(ctx, hash, now)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return Principal{}, ErrUnauthenticated
	case err != nil:
		return Principal{}, fmt.Errorf("look up api key: %w", err)
	}
	// The store found the key by the SHA-256 of the secret; comparing the
	// digests again, in constant time, guards against a store that
	// matched loosely.
	if !constantTimeEqual(k.Hash, hash[:]) {
		return Principal{}, ErrUnauthenticated
	}
	if !k.RevokedAt.IsZero() || (!k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt)) || !ValidTenant(k.Tenant) {
		return Principal{}, ErrUnauthenticated
	}
	return Principal{
		Tenant:     k.Tenant,
		Subject:    k.ID,
		KeyID:      k.ID,
		Scopes:     cleanScopes(k.Scopes),
		Categories: k.Categories,
		Kind:       KindAPIKey,
		ExpiresAt:  k.ExpiresAt,
	}, nil
}

// lookup returns the key with hash, from the cache when it is fresh.
// Only found keys are cached, so a new key works at once.
func (a *Authenticator) lookup(ctx context.Context, hash [32]byte, now time.Time) (*store.APIKey, error) {
	if a.ttl > 0 {
		a.mu.Lock()
		c, ok := a.cache[hash]
		a.mu.Unlock()
		if ok && now.Sub(c.fetched) < a.ttl && !now.Before(c.fetched) {
			return c.key, nil
		}
	}
	k, err := a.keys.GetAPIKeyByHash(ctx, hash[:])
	if err != nil {
		return nil, err
	}
	if a.ttl > 0 {
		a.mu.Lock()
		if len(a.cache) >= maxCachedKeys {
			for h, c := range a.cache {
				if now.Sub(c.fetched) >= a.ttl {
					delete(a.cache, h)
				}
			}
			if len(a.cache) >= maxCachedKeys {
				clear(a.cache)
			}
		}
		a.cache[hash] = cachedKey{key: k, fetched: now}
		a.mu.Unlock()
	}
	return k, nil
}

// Forget drops the key with this hash from the cache, so that a
// revocation made through this Authenticator's process applies at once.
func (a *Authenticator) Forget(hash []byte) {
	if len(hash) != 32 {
		return
	}
	a.mu.Lock()
	delete(a.cache, [32]byte(hash))
	a.mu.Unlock()
}

// ForgetTenant drops every cached key of tenant, so that a revocation made
// through this Authenticator's process applies at once to the revoked key
// and to the keys revoked with it.
func (a *Authenticator) ForgetTenant(tenant string) {
	a.mu.Lock()
	for h, c := range a.cache {
		if c.key.Tenant == tenant {
			delete(a.cache, h)
		}
	}
	a.mu.Unlock()
}
