// Package authtest is a JWT issuer for tests: it holds freshly generated
// RSA and ECDSA keys, serves them as a JWKS over httptest, and signs
// tokens with them. It never touches the network beyond loopback.
package authtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// Issuer signs tokens and publishes the public keys of its current key
// set at JWKSURL.
type Issuer struct {
	// Issuer and Audience are the default "iss" and "aud".
	Issuer, Audience string
	// JWKSURL serves the public keys.
	JWKSURL string
	// Fetches counts the JWKS requests served.
	Fetches atomic.Int64

	mu        sync.Mutex
	keys      map[string]jwk.Key // private keys by kid
	published []string           // kids in the JWKS
}

// Key IDs of the keys every Issuer starts with.
const (
	RSAKey = "rsa-1"
	ECKey  = "ec-1"
)

// New returns an issuer with an RSA-2048 key (RS256) and a P-256 key
// (ES256), both published, and a JWKS server closed with t.
func New(t testing.TB) *Issuer {
	t.Helper()
	iss := &Issuer{Issuer: "https://issuer.test", Audience: "presignd", keys: map[string]jwk.Key{}}
	iss.AddRSAKey(t, RSAKey, true)
	iss.AddECKey(t, ECKey, true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		iss.Fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(iss.PublicSet(t))
	}))
	t.Cleanup(srv.Close)
	iss.JWKSURL = srv.URL + "/.well-known/jwks.json"
	return iss
}

// AddRSAKey generates an RSA key kid for RS256; publish puts it in the JWKS.
func (iss *Issuer) AddRSAKey(t testing.TB, kid string, publish bool) {
	t.Helper()
	raw, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	iss.add(t, kid, raw, jwa.RS256(), publish)
}

// AddECKey generates a P-256 key kid for ES256; publish puts it in the JWKS.
func (iss *Issuer) AddECKey(t testing.TB, kid string, publish bool) {
	t.Helper()
	raw, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	iss.add(t, kid, raw, jwa.ES256(), publish)
}

func (iss *Issuer) add(t testing.TB, kid string, raw any, alg jwa.SignatureAlgorithm, publish bool) {
	k, err := jwk.Import(raw)
	if err != nil {
		t.Fatal(err)
	}
	_ = k.Set(jwk.KeyIDKey, kid)
	_ = k.Set(jwk.AlgorithmKey, alg)
	iss.mu.Lock()
	defer iss.mu.Unlock()
	iss.keys[kid] = k
	if publish {
		iss.published = append(iss.published, kid)
	}
}

// Publish adds kid to the JWKS.
func (iss *Issuer) Publish(kid string) {
	iss.mu.Lock()
	iss.published = append(iss.published, kid)
	iss.mu.Unlock()
}

// PublicSet returns the published public keys.
func (iss *Issuer) PublicSet(t testing.TB) jwk.Set {
	iss.mu.Lock()
	defer iss.mu.Unlock()
	set := jwk.NewSet()
	for _, kid := range iss.published {
		pub, err := iss.keys[kid].PublicKey()
		if err != nil {
			t.Error(err)
			continue
		}
		_ = set.AddKey(pub)
	}
	return set
}

// PrivateKey returns the private key kid.
func (iss *Issuer) PrivateKey(kid string) jwk.Key {
	iss.mu.Lock()
	defer iss.mu.Unlock()
	return iss.keys[kid]
}

// Claims are the claims of a token to sign. Zero times are left out.
type Claims struct {
	Issuer, Subject, Tenant string
	Audience                []string
	Scope                   any // string or []string
	Categories              []string
	IssuedAt, NotBefore     time.Time
	Expires                 time.Time
	// Extra are more private claims.
	Extra map[string]any
}

// Valid returns claims that presignd accepts with the default claim names:
// the issuer's iss and aud, tenant, every scope, and a 5-minute lifetime.
func (iss *Issuer) Valid(tenant string) Claims {
	now := time.Now()
	return Claims{
		Issuer: iss.Issuer, Audience: []string{iss.Audience}, Subject: "user-1", Tenant: tenant,
		Scope: "files:upload files:read files:delete admin owner:headers", IssuedAt: now, Expires: now.Add(5 * time.Minute),
	}
}

// Sign signs c with the key kid.
func (iss *Issuer) Sign(t testing.TB, kid string, c Claims) string {
	t.Helper()
	tok := jwt.New()
	set := func(k string, v any) {
		if err := tok.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if c.Issuer != "" {
		set(jwt.IssuerKey, c.Issuer)
	}
	if c.Subject != "" {
		set(jwt.SubjectKey, c.Subject)
	}
	if len(c.Audience) > 0 {
		set(jwt.AudienceKey, c.Audience)
	}
	if c.Tenant != "" {
		set("tenant", c.Tenant)
	}
	if c.Scope != nil {
		set("scope", c.Scope)
	}
	if c.Categories != nil {
		set("categories", c.Categories)
	}
	for k, tm := range map[string]time.Time{jwt.IssuedAtKey: c.IssuedAt, jwt.NotBeforeKey: c.NotBefore, jwt.ExpirationKey: c.Expires} {
		if !tm.IsZero() {
			set(k, tm)
		}
	}
	for k, v := range c.Extra {
		set(k, v)
	}
	key := iss.PrivateKey(kid)
	alg, _ := key.Algorithm()
	hdr := jws.NewHeaders()
	_ = hdr.Set(jws.KeyIDKey, kid)
	signed, err := jwt.Sign(tok, jwt.WithKey(alg, key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatal(err)
	}
	return string(signed)
}

// SignWithHeader signs c with the RSA key kid (RS256) under a protected
// header built from header, to which "alg" and "kid" are added. Unlike
// Sign it writes header as given, so tests can send headers a JWS library
// would refuse to produce (a malformed "crit", say).
func (iss *Issuer) SignWithHeader(t testing.TB, kid string, header map[string]any, c Claims) string {
	t.Helper()
	payload := strings.Split(iss.Sign(t, kid, c), ".")[1]
	h := map[string]any{"alg": jwa.RS256().String(), "kid": kid}
	maps.Copy(h, header)
	hb, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	input := base64.RawURLEncoding.EncodeToString(hb) + "." + payload
	var priv rsa.PrivateKey
	if err := jwk.Export(iss.PrivateKey(kid), &priv); err != nil {
		t.Fatalf("key %s is not an RSA key: %v", kid, err)
	}
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, &priv, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}
