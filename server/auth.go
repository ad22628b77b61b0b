package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/presignd/presignd/store"
)

// APIKeyPrefix starts every API key presignd generates.
const APIKeyPrefix = "psk_"

// apiKeyEncoding is lower-case base32 without padding: unambiguous and safe
// in headers and shells.
var apiKeyEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// GenerateAPIKey returns a new API key with 160 bits of entropy.
func GenerateAPIKey() (string, error) {
	var b [20]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate api key: %w", err)
	}
	return APIKeyPrefix + apiKeyEncoding.EncodeToString(b[:]), nil
}

// HashAPIKey returns the SHA-256 digest under which a key is stored. Keys
// are high-entropy secrets, so a fast hash is enough.
func HashAPIKey(key string) []byte {
	sum := sha256.Sum256([]byte(key))
	return sum[:]
}

// APIKeyDisplayPrefix returns the part of a key that may be shown to people
// to tell keys apart.
func APIKeyDisplayPrefix(key string) string {
	if len(key) > 12 {
		return key[:12]
	}
	return key
}

// API key scopes.
const (
	ScopeUpload = "files:upload"
	ScopeRead   = "files:read"
	ScopeDelete = "files:delete"
	ScopeAdmin  = "admin"
)

// AllScopes lists every scope.
var AllScopes = []string{ScopeUpload, ScopeRead, ScopeDelete, ScopeAdmin}

// Principal is the authenticated caller.
type Principal struct {
	Tenant string
	KeyID  string
	Scopes []string
}

type principalKey struct{}

// principalFrom returns the caller set by the auth interceptor.
func principalFrom(ctx context.Context) (Principal, error) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	if !ok {
		return Principal{}, errUnauthenticated
	}
	return p, nil
}

// apiKeyAuthenticator resolves API keys from request metadata.
type apiKeyAuthenticator struct {
	keys store.APIKeys
	now  func() time.Time
}

// credentialFrom reads the caller's key from "authorization: Bearer KEY" or
// "x-api-key: KEY".
func credentialFrom(md metadata.MD) (string, bool) {
	if vals := md.Get("authorization"); len(vals) == 1 {
		scheme, token, ok := strings.Cut(vals[0], " ")
		if ok && strings.EqualFold(scheme, "bearer") && strings.TrimSpace(token) != "" {
			return strings.TrimSpace(token), true
		}
		return "", false
	}
	if vals := md.Get("x-api-key"); len(vals) == 1 && vals[0] != "" {
		return vals[0], true
	}
	return "", false
}

// authenticate returns the principal of the credential in ctx's metadata.
// Every failure is errUnauthenticated, without saying which check failed.
func (a *apiKeyAuthenticator) authenticate(ctx context.Context) (Principal, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	key, ok := credentialFrom(md)
	if !ok {
		return Principal{}, fmt.Errorf("%w: send \"authorization: Bearer <api key>\" or \"x-api-key: <api key>\"", errUnauthenticated)
	}
	if len(key) > 256 {
		return Principal{}, errUnauthenticated
	}
	k, err := a.keys.GetAPIKeyByHash(ctx, HashAPIKey(key))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return Principal{}, errUnauthenticated
	case err != nil:
		return Principal{}, fmt.Errorf("look up api key: %w", err)
	}
	now := a.now()
	if !k.RevokedAt.IsZero() || (!k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt)) {
		return Principal{}, errUnauthenticated
	}
	return Principal{Tenant: k.Tenant, KeyID: k.ID, Scopes: k.Scopes}, nil
}
