package auth_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/presignd/presignd/auth"
	"github.com/presignd/presignd/auth/authtest"
	"github.com/presignd/presignd/store"
)

// memKeys is an in-memory KeyLookup that counts lookups.
type memKeys struct {
	mu      sync.Mutex
	keys    map[string]*store.APIKey
	lookups int
	err     error
}

func (m *memKeys) GetAPIKeyByHash(_ context.Context, hash []byte) (*store.APIKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lookups++
	if m.err != nil {
		return nil, m.err
	}
	k, ok := m.keys[string(hash)]
	if !ok {
		return nil, store.ErrNotFound
	}
	c := *k
	return &c, nil
}

func (m *memKeys) add(t *testing.T, opts auth.NewKeyOptions) (string, *store.APIKey) {
	t.Helper()
	secret, k, err := auth.NewAPIKey(opts)
	if err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	if m.keys == nil {
		m.keys = map[string]*store.APIKey{}
	}
	m.keys[string(k.Hash)] = k
	m.mu.Unlock()
	return secret, k
}

func (m *memKeys) revoke(k *store.APIKey, at time.Time) {
	m.mu.Lock()
	m.keys[string(k.Hash)].RevokedAt = at
	m.mu.Unlock()
}

func TestAPIKeyAuthentication(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	keys := &memKeys{}
	a, err := auth.New(auth.Config{Keys: keys, Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	valid, rec := keys.add(t, auth.NewKeyOptions{Tenant: "acme", Scopes: []string{"files:read", "files:upload"}, Categories: []string{"docs"}})
	expiring, _ := keys.add(t, auth.NewKeyOptions{Tenant: "acme", Scopes: []string{"files:read"}, TTL: time.Hour, Now: clock.now()})
	revoked, revokedRec := keys.add(t, auth.NewKeyOptions{Tenant: "acme", Scopes: []string{"files:read"}})
	keys.revoke(revokedRec, clock.now())

	p, err := a.Authenticate(context.Background(), auth.Credential{Kind: auth.KindAPIKey, Value: valid})
	if err != nil {
		t.Fatal(err)
	}
	if p.Tenant != "acme" || p.KeyID != rec.ID || p.Kind != auth.KindAPIKey || !p.HasScope(auth.ScopeUpload) || p.HasScope(auth.ScopeDelete) ||
		!p.AllowsCategory("docs") || p.AllowsCategory("avatars") {
		t.Fatalf("principal = %+v", p)
	}
	refused := map[string]string{
		"a revoked key":                   revoked,
		"an unknown key":                  "psk_" + strings.Repeat("a", 32),
		"a key with one character off":    valid[:len(valid)-1] + string(valid[len(valid)-1]^1),
		"a truncated key":                 valid[:len(valid)-1],
		"a key with a character too many": valid + "a",
		"an empty key":                    "",
		"an oversized key":                strings.Repeat("a", 300),
	}
	for name, key := range refused {
		t.Run(name+" is refused", func(t *testing.T) {
			if _, err := a.Authenticate(context.Background(), auth.Credential{Kind: auth.KindAPIKey, Value: key}); !errors.Is(err, auth.ErrUnauthenticated) {
				t.Fatalf("err = %v, want ErrUnauthenticated", err)
			}
		})
	}
	t.Run("a key works until its expiry and not at it", func(t *testing.T) {
		clock.add(time.Hour - time.Second)
		if _, err := a.Authenticate(context.Background(), auth.Credential{Kind: auth.KindAPIKey, Value: expiring}); err != nil {
			t.Fatalf("before expiry: %v", err)
		}
		clock.add(time.Second)
		if _, err := a.Authenticate(context.Background(), auth.Credential{Kind: auth.KindAPIKey, Value: expiring}); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Fatalf("at expiry: %v", err)
		}
	})
	t.Run("a JWT is refused when JWTs are not configured", func(t *testing.T) {
		iss := authtest.New(t)
		tok := iss.Sign(t, authtest.RSAKey, iss.Valid("acme"))
		if _, err := a.Authenticate(context.Background(), auth.Credential{Kind: auth.KindJWT, Value: tok}); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("a store failure is not an authentication failure", func(t *testing.T) {
		keys.err = store.ErrUnavailable
		defer func() { keys.err = nil }()
		_, err := a.Authenticate(context.Background(), auth.Credential{Kind: auth.KindAPIKey, Value: valid})
		if !errors.Is(err, store.ErrUnavailable) || errors.Is(err, auth.ErrUnauthenticated) {
			t.Fatalf("err = %v, want ErrUnavailable", err)
		}
	})
}

// TestKeyCacheHonoursRevocationWithinTTL proves the bound on the lookup
// cache: a key revoked in the store keeps working for less than the TTL,
// and not at all once forgotten.
func TestKeyCacheHonoursRevocationWithinTTL(t *testing.T) {
	const ttl = 10 * time.Second
	clock := &fakeClock{t: time.Now()}
	keys := &memKeys{}
	a, err := auth.New(auth.Config{Keys: keys, KeyCacheTTL: ttl, Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	secret, k := keys.add(t, auth.NewKeyOptions{Tenant: "acme", Scopes: []string{"files:read"}})
	call := func() error {
		_, err := a.Authenticate(context.Background(), auth.Credential{Kind: auth.KindAPIKey, Value: secret})
		return err
	}
	if err := call(); err != nil {
		t.Fatal(err)
	}
	keys.revoke(k, clock.now())
	lookups := keys.lookups
	clock.add(ttl - time.Millisecond)
	if err := call(); err != nil {
		t.Fatalf("within the TTL the cached key still works (that is the documented bound): %v", err)
	}
	if keys.lookups != lookups {
		t.Fatalf("a cached key was looked up again")
	}
	clock.add(time.Millisecond)
	if err := call(); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("at the TTL a revoked key must be refused: %v", err)
	}

	secret2, k2 := keys.add(t, auth.NewKeyOptions{Tenant: "acme", Scopes: []string{"files:read"}})
	secret = secret2
	if err := call(); err != nil {
		t.Fatal(err)
	}
	keys.revoke(k2, clock.now())
	a.Forget(k2.Hash)
	if err := call(); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("a forgotten key must be refused at once: %v", err)
	}

	if _, err := auth.New(auth.Config{Keys: keys, KeyCacheTTL: time.Minute}); err == nil {
		t.Fatal("a TTL over 30s was accepted")
	}
}

// TestForgetTenantDropsEveryCachedKeyOfTheTenant: revoking a key revokes
// the keys it created, whose hashes the revoking server does not have; it
// forgets the whole tenant, and only that tenant.
func TestForgetTenantDropsEveryCachedKeyOfTheTenant(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	keys := &memKeys{}
	a, err := auth.New(auth.Config{Keys: keys, KeyCacheTTL: 10 * time.Second, Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	call := func(secret string) error {
		_, err := a.Authenticate(context.Background(), auth.Credential{Kind: auth.KindAPIKey, Value: secret})
		return err
	}
	parent, pk := keys.add(t, auth.NewKeyOptions{Tenant: "acme", Scopes: []string{"admin"}})
	child, ck := keys.add(t, auth.NewKeyOptions{Tenant: "acme", Scopes: []string{"admin"}})
	other, _ := keys.add(t, auth.NewKeyOptions{Tenant: "globex", Scopes: []string{"admin"}})
	for _, s := range []string{parent, child, other} {
		if err := call(s); err != nil {
			t.Fatal(err)
		}
	}
	keys.revoke(pk, clock.now())
	keys.revoke(ck, clock.now()) // as the store revokes a key's children
	lookups := keys.lookups
	a.ForgetTenant("acme")
	for name, s := range map[string]string{"the revoked key": parent, "the key it created": child} {
		if err := call(s); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Errorf("%s after ForgetTenant: %v, want ErrUnauthenticated", name, err)
		}
	}
	if err := call(other); err != nil {
		t.Fatalf("another tenant's key: %v", err)
	}
	if got := keys.lookups - lookups; got != 2 {
		t.Errorf("%d lookups after ForgetTenant, want 2: the other tenant's key stays cached", got)
	}
}

func TestNewAPIKey(t *testing.T) {
	secret, k, err := auth.NewAPIKey(auth.NewKeyOptions{Tenant: "acme", Scopes: []string{"admin", "files:read", "files:read"}, Categories: []string{"b", "a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, auth.APIKeyPrefix) || len(secret) != 36 || k.Prefix != secret[:12] || string(k.Hash) != string(auth.HashAPIKey(secret)) {
		t.Fatalf("secret %q, record %+v", secret, k)
	}
	if strings.Contains(k.ID, secret[4:]) || strings.Join(k.Scopes, ",") != "files:read,admin" || strings.Join(k.Categories, ",") != "a,b" {
		t.Fatalf("record %+v", k)
	}
	other, _, _ := auth.NewAPIKey(auth.NewKeyOptions{Tenant: "acme", Scopes: []string{"admin"}})
	if other == secret {
		t.Fatal("two keys are equal")
	}
	for name, opts := range map[string]auth.NewKeyOptions{
		"no scopes":        {Tenant: "acme"},
		"an unknown scope": {Tenant: "acme", Scopes: []string{"root"}},
		"a bad tenant":     {Tenant: "../x", Scopes: []string{"admin"}},
		"a negative TTL":   {Tenant: "acme", Scopes: []string{"admin"}, TTL: -time.Second},
	} {
		if _, _, err := auth.NewAPIKey(opts); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestParseCredential(t *testing.T) {
	jwtish := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"
	tests := []struct {
		name          string
		authorization []string
		apiKey        []string
		kind          string // "" means refused
	}{
		{"a bearer API key", []string{"Bearer psk_abc"}, nil, auth.KindAPIKey},
		{"a bearer scheme in any case", []string{"bEaReR psk_abc"}, nil, auth.KindAPIKey},
		{"an x-api-key", nil, []string{"psk_abc"}, auth.KindAPIKey},
		{"a bearer JWT", []string{"Bearer " + jwtish}, nil, auth.KindJWT},
		{"a JWT-shaped x-api-key is still an API key", nil, []string{jwtish}, auth.KindAPIKey},
		{"nothing", nil, nil, ""},
		{"two authorization headers", []string{"Bearer a", "Bearer b"}, nil, ""},
		{"both headers", []string{"Bearer a"}, []string{"a"}, ""},
		{"a Basic scheme", []string{"Basic dXNlcjpwYXNz"}, nil, ""},
		{"a bare token without scheme", []string{"psk_abc"}, nil, ""},
		{"an empty bearer", []string{"Bearer "}, nil, ""},
		{"a token with a space inside", []string{"Bearer psk_a bc"}, nil, ""},
		{"a token with a control character", []string{"Bearer psk_a\x00bc"}, nil, ""},
		{"a non-ASCII token", []string{"Bearer psk_äbc"}, nil, ""},
		{"an oversized JWT", []string{"Bearer " + strings.Repeat("a", 5000) + "." + strings.Repeat("b", 5000) + ".c"}, nil, ""},
		{"an oversized API key", nil, []string{strings.Repeat("a", 257)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := auth.ParseCredential(tt.authorization, tt.apiKey)
			if tt.kind == "" {
				if !errors.Is(err, auth.ErrUnauthenticated) {
					t.Fatalf("ParseCredential = %+v, %v; want ErrUnauthenticated", c, err)
				}
				return
			}
			if err != nil || c.Kind != tt.kind {
				t.Fatalf("ParseCredential = %+v, %v; want kind %s", c, err, tt.kind)
			}
		})
	}
}

func TestRateLimiter(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	l := auth.NewRateLimiter("CreateUpload", 2, 3, clock.now)
	for i := range 3 {
		if err := l.Allow("acme"); err != nil {
			t.Fatalf("call %d within the burst: %v", i, err)
		}
	}
	err := l.Allow("acme")
	var rl *auth.RateLimitError
	if !errors.As(err, &rl) || !errors.Is(err, auth.ErrRateLimited) || rl.RetryAfter <= 0 || rl.RetryAfter > 500*time.Millisecond {
		t.Fatalf("over the burst: %v", err)
	}
	if err := l.Allow("globex"); err != nil {
		t.Fatalf("another tenant has its own bucket: %v", err)
	}
	clock.add(rl.RetryAfter)
	if err := l.Allow("acme"); err != nil {
		t.Fatalf("after the retry hint: %v", err)
	}
	if err := auth.NewRateLimiter("x", 0, 0, nil).Allow("acme"); err != nil {
		t.Fatalf("a zero rate limits nothing: %v", err)
	}
}
