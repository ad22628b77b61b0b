package auth_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/presignd/presignd/auth"
	"github.com/presignd/presignd/auth/authtest"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newVerifier(t *testing.T, iss *authtest.Issuer, mutate func(*auth.JWTConfig)) *auth.JWTVerifier {
	t.Helper()
	cfg := auth.JWTConfig{
		JWKSURL: iss.JWKSURL, Issuer: iss.Issuer, Audience: iss.Audience,
		Leeway: 30 * time.Second, CategoriesClaim: "categories",
	}
	if mutate != nil {
		mutate(&cfg)
	}
	v, err := auth.NewJWTVerifier(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

// b64json encodes v as a JWS segment.
func b64json(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestJWTVerification(t *testing.T) {
	iss := authtest.New(t)
	v := newVerifier(t, iss, nil)
	iss.AddRSAKey(t, "unpublished", false)
	now := time.Now()
	valid := func(mutate func(*authtest.Claims)) authtest.Claims {
		c := iss.Valid("acme")
		if mutate != nil {
			mutate(&c)
		}
		return c
	}
	good := iss.Sign(t, authtest.RSAKey, valid(nil))
	parts := strings.Split(good, ".")
	otherTenant := strings.Split(iss.Sign(t, authtest.RSAKey, valid(func(c *authtest.Claims) { c.Tenant = "globex" })), ".")
	hs256 := func() string {
		// The RSA public key's bytes as an HMAC secret: the classic
		// algorithm-confusion forgery.
		pub, _ := iss.PrivateKey(authtest.RSAKey).PublicKey()
		var raw any
		_ = jwk.Export(pub, &raw)
		der, _ := x509.MarshalPKIXPublicKey(raw)
		secret := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
		head := b64json(t, map[string]string{"alg": "HS256", "typ": "JWT", "kid": authtest.RSAKey})
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(head + "." + parts[1]))
		return head + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}()

	tests := []struct {
		name  string
		token string
		ok    bool
	}{
		{"an RS256 token from the JWKS is accepted", good, true},
		{"an ES256 token from the JWKS is accepted", iss.Sign(t, authtest.ECKey, valid(nil)), true},
		{"a token expired within the leeway is accepted", iss.Sign(t, authtest.RSAKey, valid(func(c *authtest.Claims) { c.Expires = now.Add(-10 * time.Second) })), true},
		{"a token expired beyond the leeway is refused", iss.Sign(t, authtest.RSAKey, valid(func(c *authtest.Claims) { c.Expires = now.Add(-time.Minute) })), false},
		{"a token without expiry is refused", iss.Sign(t, authtest.RSAKey, valid(func(c *authtest.Claims) { c.Expires = time.Time{} })), false},
		{"a token not valid before later is refused", iss.Sign(t, authtest.RSAKey, valid(func(c *authtest.Claims) { c.NotBefore = now.Add(time.Hour) })), false},
		{"a token for another audience is refused", iss.Sign(t, authtest.RSAKey, valid(func(c *authtest.Claims) { c.Audience = []string{"other-service"} })), false},
		{"a token without audience is refused", iss.Sign(t, authtest.RSAKey, valid(func(c *authtest.Claims) { c.Audience = nil })), false},
		{"a token of another issuer is refused", iss.Sign(t, authtest.RSAKey, valid(func(c *authtest.Claims) { c.Issuer = "https://evil.test" })), false},
		{"a token without tenant is refused", iss.Sign(t, authtest.RSAKey, valid(func(c *authtest.Claims) { c.Tenant = "" })), false},
		{"a token whose tenant has a slash is refused", iss.Sign(t, authtest.RSAKey, valid(func(c *authtest.Claims) { c.Tenant = "acme/../globex" })), false},
		{"a token signed by a key not in the JWKS is refused", iss.Sign(t, "unpublished", valid(nil)), false},
		{"a payload moved under another token's signature is refused", parts[0] + "." + otherTenant[1] + "." + parts[2], false},
		{"a signature with one character changed is refused", parts[0] + "." + parts[1] + "." + flip(parts[2]), false},
		{"a payload with one character changed is refused", parts[0] + "." + flip(parts[1]) + "." + parts[2], false},
		{"a token without signature is refused", parts[0] + "." + parts[1] + ".", false},
		{"a token truncated by a character is refused", good[:len(good)-1], false},
		{"a token truncated to its header is refused", parts[0], false},
		{"an alg none token is refused", b64json(t, map[string]string{"alg": "none"}) + "." + parts[1] + ".", false},
		{"an HS256 token keyed with the RSA public key is refused", hs256, false},
		{"an empty token is refused", "", false},
		{"garbage is refused", "a.b.c", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := v.Verify(context.Background(), tt.token)
			if tt.ok {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if p.Tenant != "acme" || p.Kind != auth.KindJWT || p.Subject != "user-1" || len(p.Scopes) != len(auth.AllScopes) {
					t.Fatalf("principal = %+v", p)
				}
				return
			}
			if !errors.Is(err, auth.ErrUnauthenticated) {
				t.Fatalf("Verify = %+v, %v; want ErrUnauthenticated", p, err)
			}
		})
	}
}

func flip(s string) string {
	b := []byte(s)
	i := len(b) / 2
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

func TestJWTClaims(t *testing.T) {
	iss := authtest.New(t)
	v := newVerifier(t, iss, nil)
	tests := []struct {
		name       string
		mutate     func(*authtest.Claims)
		scopes     []string
		categories []string
	}{
		{"space-separated scopes are read, unknown ones dropped", func(c *authtest.Claims) { c.Scope = "files:read openid files:delete" }, []string{auth.ScopeRead, auth.ScopeDelete}, nil},
		{"an array of scopes is read", func(c *authtest.Claims) { c.Scope = []string{"files:upload", "admin"} }, []string{auth.ScopeUpload, auth.ScopeAdmin}, nil},
		{"no scope claim grants nothing", func(c *authtest.Claims) { c.Scope = nil }, []string{}, nil},
		{"a category claim limits the caller", func(c *authtest.Claims) { c.Categories = []string{"identity"} }, auth.AllScopes, []string{"identity"}},
		{"an empty category claim allows no category", func(c *authtest.Claims) { c.Categories = []string{} }, auth.AllScopes, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := iss.Valid("acme")
			tt.mutate(&c)
			p, err := v.Verify(context.Background(), iss.Sign(t, authtest.ECKey, c))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(p.Scopes, tt.scopes) {
				t.Errorf("scopes = %q, want %q", p.Scopes, tt.scopes)
			}
			if (p.Categories == nil) != (tt.categories == nil) || !slices.Equal(p.Categories, tt.categories) {
				t.Errorf("categories = %#v, want %#v", p.Categories, tt.categories)
			}
		})
	}
	t.Run("custom claim names are read", func(t *testing.T) {
		v := newVerifier(t, iss, func(c *auth.JWTConfig) { c.TenantClaim, c.ScopesClaim = "https://example.com/org", "permissions" })
		c := iss.Valid("")
		c.Scope = nil
		c.Extra = map[string]any{"https://example.com/org": "globex", "permissions": []string{"files:read"}}
		p, err := v.Verify(context.Background(), iss.Sign(t, authtest.RSAKey, c))
		if err != nil || p.Tenant != "globex" || !slices.Equal(p.Scopes, []string{auth.ScopeRead}) {
			t.Fatalf("Verify = %+v, %v", p, err)
		}
	})
}

func TestJWKSRefetchedForUnknownKeyIDs(t *testing.T) {
	iss := authtest.New(t)
	clock := &fakeClock{t: time.Now()}
	v := newVerifier(t, iss, func(c *auth.JWTConfig) { c.MinRefreshInterval = time.Minute; c.Now = clock.now })
	if _, err := v.Verify(context.Background(), iss.Sign(t, authtest.RSAKey, iss.Valid("acme"))); err != nil {
		t.Fatal(err)
	}
	clock.add(2 * time.Minute)

	// The issuer rotates: a new key appears in its JWKS after presignd
	// cached the old set.
	iss.AddECKey(t, "ec-2", true)
	before := iss.Fetches.Load()
	if _, err := v.Verify(context.Background(), iss.Sign(t, "ec-2", iss.Valid("acme"))); err != nil {
		t.Fatalf("a token signed by a newly published key: %v", err)
	}
	if got := iss.Fetches.Load() - before; got != 1 {
		t.Fatalf("JWKS fetched %d times for the new kid, want 1", got)
	}

	// Made-up key IDs cost at most one fetch per interval.
	iss.AddECKey(t, "never-published", false)
	before = iss.Fetches.Load()
	for range 20 {
		if _, err := v.Verify(context.Background(), iss.Sign(t, "never-published", iss.Valid("acme"))); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Fatalf("unknown kid: %v", err)
		}
	}
	if got := iss.Fetches.Load() - before; got > 1 {
		t.Fatalf("20 unknown kids fetched the JWKS %d times within the interval, want at most 1", got)
	}

	// A key published later is found once the interval has passed.
	iss.AddRSAKey(t, "rsa-2", false)
	tok := iss.Sign(t, "rsa-2", iss.Valid("acme"))
	iss.Publish("rsa-2")
	clock.add(2 * time.Minute)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("after the interval: %v", err)
	}
}

func TestJWTStaticKeys(t *testing.T) {
	iss := authtest.New(t)
	pub, _ := iss.PrivateKey(authtest.ECKey).PublicKey()
	var raw any
	if err := jwk.Export(pub, &raw); err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	pemKeys, err := auth.ParseKeys(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := json.Marshal(iss.PublicSet(t))
	jwkKeys, err := auth.ParseKeys(jwks)
	if err != nil {
		t.Fatal(err)
	}
	for name, set := range map[string]jwk.Set{"PEM": pemKeys, "JWKS": jwkKeys} {
		t.Run("keys from "+name+" verify tokens without a JWKS URL", func(t *testing.T) {
			v := newVerifier(t, iss, func(c *auth.JWTConfig) { c.JWKSURL, c.StaticKeys = "", set })
			if _, err := v.Verify(context.Background(), iss.Sign(t, authtest.ECKey, iss.Valid("acme"))); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("a symmetric key is refused", func(t *testing.T) {
		if _, err := auth.ParseKeys([]byte(`{"kty":"oct","k":"c2VjcmV0"}`)); err == nil {
			t.Fatal("ParseKeys accepted an oct key")
		}
	})
	t.Run("garbage is refused", func(t *testing.T) {
		if _, err := auth.ParseKeys([]byte("not a key")); err == nil {
			t.Fatal("ParseKeys accepted garbage")
		}
	})
}

func TestNewJWTVerifierRefusesIncompleteConfig(t *testing.T) {
	iss := authtest.New(t)
	for name, cfg := range map[string]auth.JWTConfig{
		"no key source": {Issuer: "i", Audience: "a"},
		"no issuer":     {JWKSURL: iss.JWKSURL, Audience: "a"},
		"no audience":   {JWKSURL: iss.JWKSURL, Issuer: "i"},
		"a huge leeway": {JWKSURL: iss.JWKSURL, Issuer: "i", Audience: "a", Leeway: time.Hour},
		"negative skew": {JWKSURL: iss.JWKSURL, Issuer: "i", Audience: "a", Leeway: -time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			if v, err := auth.NewJWTVerifier(context.Background(), cfg); err == nil {
				v.Close()
				t.Fatal("accepted")
			}
		})
	}
}

// TestJWTCriticalHeader: RFC 7515 §4.1.11. presignd implements no JWS
// header extension, so a token that makes one critical is refused, and so
// is a malformed "crit"; the signature is valid in every case.
func TestJWTCriticalHeader(t *testing.T) {
	iss := authtest.New(t)
	v := newVerifier(t, iss, nil)
	tests := []struct {
		name   string
		header map[string]any
		ok     bool
	}{
		{"a token without crit is accepted", map[string]any{"typ": "JWT"}, true},
		{"a token with an unknown private header that is not critical is accepted", map[string]any{"x-trace": "1"}, true},
		{"crit listing an extension presignd does not implement is refused", map[string]any{"crit": []string{"x-policy"}, "x-policy": "strict"}, false},
		{"crit listing the unencoded-payload extension b64 is refused", map[string]any{"crit": []string{"b64"}, "b64": true}, false},
		{"crit listing an extension absent from the header is refused", map[string]any{"crit": []string{"x-policy"}}, false},
		{"an empty crit is refused", map[string]any{"crit": []string{}}, false},
		{"a crit that is a string, not an array, is refused", map[string]any{"crit": "x-policy", "x-policy": 1}, false},
		{"a crit holding a number is refused", map[string]any{"crit": []any{1}}, false},
		{"a null crit is refused", map[string]any{"crit": nil}, false},
		{"crit listing a registered header is refused", map[string]any{"crit": []string{"kid"}}, false},
		{"crit listing alg is refused", map[string]any{"crit": []string{"alg"}}, false},
		{"a private header named CRIT is not crit and is accepted", map[string]any{"CRIT": []string{"x"}}, true},
		{"crit listing an empty name is refused", map[string]any{"crit": []string{""}, "": 1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := v.Verify(context.Background(), iss.SignWithHeader(t, authtest.RSAKey, tt.header, iss.Valid("acme")))
			if tt.ok {
				if err != nil || p.Tenant != "acme" {
					t.Fatalf("Verify = %+v, %v; want acme", p, err)
				}
				return
			}
			if !errors.Is(err, auth.ErrUnauthenticated) {
				t.Fatalf("Verify = %+v, %v; want ErrUnauthenticated", p, err)
			}
		})
	}
}

func TestJWTDisplayNameClaim(t *testing.T) {
	iss := authtest.New(t)
	v, err := auth.NewJWTVerifier(context.Background(), auth.JWTConfig{
		JWKSURL: iss.JWKSURL, Issuer: iss.Issuer, Audience: iss.Audience, DisplayNameClaim: "preferred_username",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	long := strings.Repeat("é", 200) // 400 bytes
	tests := []struct {
		name  string
		claim any // nil: absent
		want  string
	}{
		{"a string claim is the display name, trimmed", "  Ada Lovelace ", "Ada Lovelace"},
		{"an absent claim is no display name", nil, ""},
		{"a claim that is not a string is no display name", 42, ""},
		{"a long claim is cut to 256 bytes on a rune boundary", long, strings.Repeat("é", 128)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := iss.Valid("acme")
			if tt.claim != nil {
				c.Extra = map[string]any{"preferred_username": tt.claim}
			}
			p, err := v.Verify(context.Background(), iss.Sign(t, authtest.RSAKey, c))
			if err != nil {
				t.Fatal(err)
			}
			if p.DisplayName != tt.want {
				t.Errorf("DisplayName = %q, want %q", p.DisplayName, tt.want)
			}
		})
	}
}
