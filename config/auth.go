package config

import (
	"fmt"
	"net/url"
	"os"
	"time"
)

// Auth configures authentication: JWTs, the API-key lookup cache, rate
// limits and signed-id key versions. API keys always work; they are
// managed with "presignd keys" or the AdminService.
type Auth struct {
	// JWT enables bearer JWTs when jwks_url or static_keys_file is set.
	JWT JWT `yaml:"jwt"`
	// APIKeyCacheTTL keeps API-key lookups in memory (default 5s,
	// DefaultAPIKeyCacheTTL; 0 = off; at most 30s). It is the revocation
	// delay: a key revoked on another replica (or with "presignd keys
	// revoke") works here for at most this long; the replica that revokes
	// it forgets it, and the keys revoked with it, at once.
	APIKeyCacheTTL *Duration `yaml:"api_key_cache_ttl"`
	// RateLimit limits calls per tenant.
	RateLimit RateLimit `yaml:"rate_limit"`
	// SignedIDKeys add signed-id key versions; version 1 is the service
	// secret unless listed here. The highest version signs new ids; every
	// listed version still resolves old ones.
	SignedIDKeys []SignedIDKey `yaml:"signed_id_keys"`
}

// JWT configures bearer-token verification.
type JWT struct {
	// JWKSURL is fetched, cached and refetched for unknown key IDs.
	JWKSURL string `yaml:"jwks_url"`
	// StaticKeysFile holds trusted public keys: PEM (keys or
	// certificates), a JWK or a JWK set.
	StaticKeysFile string `yaml:"static_keys_file"`
	// Issuer must equal the "iss" claim (required with JWTs).
	Issuer string `yaml:"issuer"`
	// Audience must be among the "aud" claim's values (required with JWTs).
	Audience string `yaml:"audience"`
	// Leeway is the clock skew allowed on exp, nbf and iat (default 30s,
	// at most 5m).
	Leeway Duration `yaml:"leeway"`
	// TenantClaim names the tenant claim ("tenant").
	TenantClaim string `yaml:"tenant_claim"`
	// ScopesClaim names the scopes claim, a space-separated string or an
	// array ("scope").
	ScopesClaim string `yaml:"scopes_claim"`
	// CategoriesClaim, when set, names an array claim limiting the caller
	// to those categories.
	CategoriesClaim string `yaml:"categories_claim"`
	// DisplayNameClaim, when set, names a string claim (such as
	// preferred_username) recorded as the display name of the uploader of
	// each file a JWT creates (File.uploader.display_name).
	DisplayNameClaim string `yaml:"display_name_claim"`
}

// Enabled reports whether JWTs are configured.
func (j JWT) Enabled() bool { return j.JWKSURL != "" || j.StaticKeysFile != "" }

// RateLimit limits calls per tenant. Zero rates mean no limit.
type RateLimit struct {
	// CreateUpload limits CreateUpload calls per tenant; over it a call
	// gets RESOURCE_EXHAUSTED (429) with a retry delay.
	CreateUpload Rate `yaml:"create_upload"`
}

// Rate is a token bucket: per_second tokens a second, burst at once.
type Rate struct {
	// PerSecond is the sustained rate (0: no limit).
	PerSecond float64 `yaml:"per_second"`
	// Burst defaults to max(1, per_second).
	Burst int `yaml:"burst"`
}

// SignedIDKey is one signed-id key version.
type SignedIDKey struct {
	// Version numbers the key, 1-9999; the highest signs new ids.
	Version int `yaml:"version"`
	// Secret is the key, at least 32 characters.
	Secret string `yaml:"secret"`
}

// applyAuthDefaults fills the auth section's unset values.
// DefaultAPIKeyCacheTTL is auth.api_key_cache_ttl when unset: a request
// reads its API key from the store at most once per 5 seconds per replica,
// and a revocation reaches every replica within 5 seconds.
const DefaultAPIKeyCacheTTL = 5 * time.Second

func (c *Config) applyAuthDefaults() {
	if c.Auth.APIKeyCacheTTL == nil {
		d := Duration(DefaultAPIKeyCacheTTL)
		c.Auth.APIKeyCacheTTL = &d
	}
	j := &c.Auth.JWT
	if j.Enabled() {
		if j.Leeway == 0 {
			j.Leeway = Duration(30 * time.Second)
		}
		if j.TenantClaim == "" {
			j.TenantClaim = "tenant"
		}
		if j.ScopesClaim == "" {
			j.ScopesClaim = "scope"
		}
	}
	if r := &c.Auth.RateLimit.CreateUpload; r.PerSecond > 0 && r.Burst == 0 {
		r.Burst = max(1, int(r.PerSecond))
	}
}

// validateAuth checks the auth section, reporting each problem with add.
func (c *Config) validateAuth(add func(key, format string, args ...any)) {
	j := c.Auth.JWT
	if j.Enabled() {
		if j.Issuer == "" {
			add("auth.jwt.issuer", "is required when JWTs are enabled")
		}
		if j.Audience == "" {
			add("auth.jwt.audience", "is required when JWTs are enabled")
		}
		if d := time.Duration(j.Leeway); d < 0 || d > 5*time.Minute {
			add("auth.jwt.leeway", "must be between 0s and 5m, not %s", d)
		}
	}
	if j.JWKSURL != "" {
		u, err := url.Parse(j.JWKSURL)
		switch {
		case err != nil || u.Host == "":
			add("auth.jwt.jwks_url", "%q is not an absolute URL", j.JWKSURL)
		case u.Scheme != "https" && u.Scheme != "http":
			add("auth.jwt.jwks_url", "must be https (or http for local testing), not %q", u.Scheme)
		}
	}
	if j.StaticKeysFile != "" {
		if _, err := os.Stat(j.StaticKeysFile); err != nil {
			add("auth.jwt.static_keys_file", "%v", err)
		}
	}
	if d := time.Duration(*c.Auth.APIKeyCacheTTL); d < 0 || d > 30*time.Second {
		add("auth.api_key_cache_ttl", "must be between 0s and 30s, not %s", d)
	}
	if r := c.Auth.RateLimit.CreateUpload; r.PerSecond < 0 || r.Burst < 0 {
		add("auth.rate_limit.create_upload", "per_second and burst must not be negative")
	}
	seen := map[int]bool{}
	for i, k := range c.Auth.SignedIDKeys {
		key := fmt.Sprintf("auth.signed_id_keys[%d]", i)
		if k.Version < 1 || k.Version > 9999 {
			add(key+".version", "must be 1-9999, not %d", k.Version)
		}
		if seen[k.Version] {
			add(key+".version", "version %d is listed twice", k.Version)
		}
		seen[k.Version] = true
		if len(k.Secret) < 32 {
			add(key+".secret", "must be at least 32 characters")
		}
	}
}
