package auth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/lestrrat-go/httprc/v3"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// JWTConfig configures a JWTVerifier. Issuer, Audience and at least one
// key source (JWKSURL or StaticKeys) are required.
type JWTConfig struct {
	// JWKSURL is fetched on first use, refreshed in the background as its
	// cache headers allow (within 15 minutes to 24 hours), and refetched
	// when a token names a key ID the cached set lacks.
	JWKSURL string
	// StaticKeys are public keys trusted in addition to the JWKS URL's;
	// see ParseKeys.
	StaticKeys jwk.Set
	// Issuer must equal the "iss" claim.
	Issuer string
	// Audience must be one of the "aud" claim's values.
	Audience string
	// Leeway is the clock skew allowed on "exp", "nbf" and "iat".
	Leeway time.Duration
	// TenantClaim names the claim holding the tenant ("tenant").
	TenantClaim string
	// ScopesClaim names the claim holding the scopes, as a space-separated
	// string or an array of strings ("scope").
	ScopesClaim string
	// CategoriesClaim, when set, names a claim (array of strings) that
	// limits the caller to those categories.
	CategoriesClaim string
	// DisplayNameClaim, when set, names a string claim kept as the
	// principal's DisplayName (such as "preferred_username"); at most 256
	// bytes of it are kept.
	DisplayNameClaim string
	// MinRefreshInterval is the least time between two refetches of the
	// JWKS URL caused by unknown key IDs (30s); it stops a stream of
	// made-up key IDs from turning into a stream of fetches.
	MinRefreshInterval time.Duration
	// HTTPClient fetches the JWKS URL; a client with a 30s timeout when nil.
	HTTPClient *http.Client
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// JWTVerifier checks bearer JWTs and turns them into Principals. It is
// safe for concurrent use.
type JWTVerifier struct {
	cfg      JWTConfig
	cache    *jwk.Cache
	resource *httprc.ResourceBase[jwk.Set]
	clock    jwt.Clock

	refreshMu   sync.Mutex
	lastRefresh time.Time
	// waitedForFirstFetch is set once a Verify has waited for the
	// background start-up fetch.
	waitedForFirstFetch atomic.Bool
}

// allowedAlgs are the signature algorithms presignd accepts, by key type.
// Symmetric algorithms and "none" are never accepted.
var allowedAlgs = map[string]jwa.KeyType{
	jwa.RS256().String(): jwa.RSA(), jwa.RS384().String(): jwa.RSA(), jwa.RS512().String(): jwa.RSA(),
	jwa.PS256().String(): jwa.RSA(), jwa.PS384().String(): jwa.RSA(), jwa.PS512().String(): jwa.RSA(),
	jwa.ES256().String(): jwa.EC(), jwa.ES384().String(): jwa.EC(), jwa.ES512().String(): jwa.EC(),
	jwa.EdDSA().String(): jwa.OKP(),
}

// NewJWTVerifier checks cfg and returns a verifier. With a JWKS URL it
// starts a background fetcher (stopped by Close) but does not wait for
// the first fetch: a JWKS server that is down at start delays nothing
// until a token arrives.
func NewJWTVerifier(ctx context.Context, cfg JWTConfig) (*JWTVerifier, error) {
	if cfg.JWKSURL == "" && (cfg.StaticKeys == nil || cfg.StaticKeys.Len() == 0) {
		return nil, errors.New("jwt: a JWKS URL or static keys are required")
	}
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("jwt: issuer and audience are required")
	}
	if cfg.Leeway < 0 || cfg.Leeway > 5*time.Minute {
		return nil, errors.New("jwt: leeway must be between 0 and 5m")
	}
	if cfg.TenantClaim == "" {
		cfg.TenantClaim = "tenant"
	}
	if cfg.ScopesClaim == "" {
		cfg.ScopesClaim = "scope"
	}
	if cfg.MinRefreshInterval == 0 {
		cfg.MinRefreshInterval = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.StaticKeys != nil {
		for i := range cfg.StaticKeys.Len() {
			k, _ := cfg.StaticKeys.Key(i)
			if _, ok := publicKind(k); !ok {
				return nil, fmt.Errorf("jwt: static key %d is not an RSA, EC or OKP public key", i)
			}
		}
	}
	v := &JWTVerifier{cfg: cfg, clock: jwt.ClockFunc(cfg.Now)}
	if cfg.JWKSURL != "" {
		client := cfg.HTTPClient
		if client == nil {
			client = &http.Client{Timeout: 30 * time.Second}
		}
		cache, err := jwk.NewCache(ctx, httprc.NewClient())
		if err != nil {
			return nil, fmt.Errorf("jwt: jwks cache: %w", err)
		}
		err = cache.Register(ctx, cfg.JWKSURL, jwk.WithHTTPClient(client), jwk.WithWaitReady(false),
			jwk.WithMinInterval(15*time.Minute), jwk.WithMaxInterval(24*time.Hour))
		if err == nil {
			v.resource, err = cache.LookupResource(ctx, cfg.JWKSURL)
		}
		if err != nil {
			_ = cache.Shutdown(context.Background())
			return nil, fmt.Errorf("jwt: jwks %s: %w", cfg.JWKSURL, err)
		}
		v.cache = cache
	}
	return v, nil
}

// Close stops the background JWKS fetcher.
func (v *JWTVerifier) Close() error {
	if v.cache == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return v.cache.Shutdown(ctx)
}

// Verify checks token's signature, issuer, audience and times, and its
// "crit" header (RFC 7515 §4.1.11: presignd implements no extension, so a
// token with a "crit" header is refused), and returns its Principal.
// Every failure is ErrUnauthenticated (wrapped with the reason, which is
// for logs, not for callers).
func (v *JWTVerifier) Verify(ctx context.Context, token string) (Principal, error) {
	if !looksLikeJWT(token) || len(token) > maxCredentialLen {
		return Principal{}, ErrUnauthenticated
	}
	// jwx does not enforce "crit" when it verifies a JWT, so a token that
	// depends on an extension presignd does not implement would pass.
	if err := checkCritical(token); err != nil {
		return Principal{}, fmt.Errorf("%w: jwt: %v", ErrUnauthenticated, err)
	}
	tok, err := jwt.ParseString(token,
		jwt.WithKeyProvider(jws.KeyProviderFunc(func(_ context.Context, sink jws.KeySink, sig *jws.Signature, _ *jws.Message) error {
			return v.keysFor(ctx, sink, sig)
		})),
		jwt.WithValidate(true),
		jwt.WithIssuer(v.cfg.Issuer),
		jwt.WithAudience(v.cfg.Audience),
		jwt.WithAcceptableSkew(v.cfg.Leeway),
		jwt.WithClock(v.clock),
		jwt.WithRequiredClaim(jwt.ExpirationKey),
		jwt.WithContext(ctx),
	)
	if err != nil {
		return Principal{}, fmt.Errorf("%w: jwt: %v", ErrUnauthenticated, err)
	}
	return v.principal(tok)
}

func (v *JWTVerifier) principal(tok jwt.Token) (Principal, error) {
	var tenant string
	if err := tok.Get(v.cfg.TenantClaim, &tenant); err != nil || !ValidTenant(tenant) {
		return Principal{}, fmt.Errorf("%w: jwt: claim %q is missing or not a tenant name", ErrUnauthenticated, v.cfg.TenantClaim)
	}
	p := Principal{Tenant: tenant, Kind: KindJWT}
	p.Issuer, _ = tok.Issuer()
	p.Subject, _ = tok.Subject()
	p.ExpiresAt, _ = tok.Expiration()
	p.Scopes = cleanScopes(stringsClaim(tok, v.cfg.ScopesClaim))
	if v.cfg.DisplayNameClaim != "" {
		p.DisplayName = displayNameClaim(tok, v.cfg.DisplayNameClaim)
	}
	if v.cfg.CategoriesClaim != "" && tok.Has(v.cfg.CategoriesClaim) {
		// A present but empty or malformed limit allows nothing, never
		// everything.
		p.Categories = stringsClaim(tok, v.cfg.CategoriesClaim)
		if p.Categories == nil {
			p.Categories = []string{}
		}
	}
	return p, nil
}

// maxDisplayName caps the display name kept from a claim, in bytes.
const maxDisplayName = 256

// displayNameClaim reads a string claim for people: trimmed, cut to
// maxDisplayName bytes on a rune boundary; a claim that is absent, not a
// string or not valid UTF-8 reads as "".
func displayNameClaim(tok jwt.Token, name string) string {
	var v any
	if err := tok.Get(name, &v); err != nil {
		return ""
	}
	s, ok := v.(string)
	if !ok || !utf8.ValidString(s) {
		return ""
	}
	s = strings.TrimSpace(s)
	for len(s) > maxDisplayName {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}

// stringsClaim reads a claim that is a space-separated string or an array
// of strings; anything else reads as nil.
func stringsClaim(tok jwt.Token, name string) []string {
	var raw any
	if err := tok.Get(name, &raw); err != nil {
		return nil
	}
	switch x := raw.(type) {
	case string:
		return strings.Fields(x)
	case []string:
		return x
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// keysFor sends the keys that may have made sig: those with its key ID
// (refetching the JWKS once if none has it), or every trusted key when it
// names none; only keys whose type fits its algorithm.
func (v *JWTVerifier) keysFor(ctx context.Context, sink jws.KeySink, sig *jws.Signature) error {
	h := sig.ProtectedHeaders()
	alg, ok := h.Algorithm()
	if !ok {
		return errors.New("no alg header")
	}
	kty, ok := allowedAlgs[alg.String()]
	if !ok {
		return fmt.Errorf("algorithm %q is not accepted", alg)
	}
	kid, _ := h.KeyID()
	n := v.sendMatching(sink, alg, kty, kid, v.sets(ctx, false))
	if n == 0 && kid != "" && v.resource != nil {
		n = v.sendMatching(sink, alg, kty, kid, v.sets(ctx, true))
	}
	if n == 0 {
		return fmt.Errorf("no trusted key for kid %q and alg %s", kid, alg)
	}
	return nil
}

// firstFetchWait bounds how long the first Verify waits for the JWKS
// fetch started at start-up.
const firstFetchWait = 2 * time.Second

// sets returns the trusted key sets: the static keys and the JWKS,
// refetched first when refresh is set or when it was never fetched.
func (v *JWTVerifier) sets(ctx context.Context, refresh bool) []jwk.Set {
	out := make([]jwk.Set, 0, 2)
	if v.cfg.StaticKeys != nil {
		out = append(out, v.cfg.StaticKeys)
	}
	if v.resource == nil {
		return out
	}
	set := v.resource.Resource()
	if set == nil && !refresh && !v.waitedForFirstFetch.Swap(true) {
		// The first fetch started in the background at start-up: wait a
		// little for it (once) rather than fetching the JWKS twice.
		wctx, cancel := context.WithTimeout(ctx, firstFetchWait)
		if v.resource.Ready(wctx) == nil {
			set = v.resource.Resource()
		}
		cancel()
	}
	if refresh || set == nil {
		set = v.refetch(ctx, set)
	}
	if set != nil {
		out = append(out, set)
	}
	return out
}

// refetch fetches the JWKS now, unless another caller replaced seen
// meanwhile or the last fetch is less than MinRefreshInterval old (so a
// stream of made-up key IDs, or a JWKS server that is down, costs one
// fetch per interval). It returns the newest set it has, possibly nil.
func (v *JWTVerifier) refetch(ctx context.Context, seen jwk.Set) jwk.Set {
	v.refreshMu.Lock()
	defer v.refreshMu.Unlock()
	if fresh := v.resource.Resource(); fresh != nil && fresh != seen {
		return fresh
	}
	now := v.cfg.Now()
	if !v.lastRefresh.IsZero() && now.Sub(v.lastRefresh) < v.cfg.MinRefreshInterval {
		return seen
	}
	v.lastRefresh = now
	if s, err := v.cache.Refresh(ctx, v.cfg.JWKSURL); err == nil {
		return s
	}
	return seen
}

func (v *JWTVerifier) sendMatching(sink jws.KeySink, alg jwa.SignatureAlgorithm, kty jwa.KeyType, kid string, sets []jwk.Set) int {
	n := 0
	for _, set := range sets {
		for i := range set.Len() {
			k, _ := set.Key(i)
			// A key without ID (PEM keys, typically) may have made a token
			// that names one; the signature decides.
			if keyKID, _ := k.KeyID(); kid != "" && keyKID != "" && keyKID != kid {
				continue
			}
			if got, ok := publicKind(k); !ok || got != kty {
				continue
			}
			if keyAlg, ok := k.Algorithm(); ok && keyAlg.String() != alg.String() {
				continue
			}
			if use, ok := k.KeyUsage(); ok && use != "" && use != "sig" {
				continue
			}
			sink.Key(alg, k)
			n++
		}
	}
	return n
}

// publicKind returns the type of a public asymmetric key; ok is false for
// symmetric and private keys.
func publicKind(k jwk.Key) (jwa.KeyType, bool) {
	switch k.(type) {
	case jwk.RSAPublicKey, jwk.ECDSAPublicKey, jwk.OKPPublicKey:
		return k.KeyType(), true
	}
	return jwa.KeyType{}, false
}

// ParseKeys reads public keys for JWT verification from a JWK, a JWK set,
// or PEM (public keys or certificates, one or more blocks). Private keys
// are reduced to their public halves; symmetric keys are refused.
func ParseKeys(data []byte) (jwk.Set, error) {
	data = bytes.TrimSpace(data)
	var (
		set jwk.Set
		err error
	)
	if bytes.HasPrefix(data, []byte("{")) {
		set, err = jwk.Parse(data)
	} else {
		set, err = jwk.Parse(data, jwk.WithPEM(true))
	}
	if err != nil {
		return nil, fmt.Errorf("parse keys: %w", err)
	}
	if set.Len() == 0 {
		return nil, errors.New("parse keys: no keys found")
	}
	pub, err := jwk.PublicSetOf(set)
	if err != nil {
		return nil, fmt.Errorf("parse keys: %w", err)
	}
	for i := range pub.Len() {
		k, _ := pub.Key(i)
		if _, ok := publicKind(k); !ok {
			return nil, fmt.Errorf("parse keys: key %d is not an RSA, EC or OKP key", i)
		}
	}
	return pub, nil
}
