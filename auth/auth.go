// Package auth is presignd's authentication and authorization model, in
// plain Go: who the caller is (Principal), what it may do (scopes and
// category limits), how its credential is checked (API keys against the
// store, JWTs against a JWKS URL or static keys), and how often it may
// create uploads (a per-tenant rate limiter).
//
// Every failure to authenticate is ErrUnauthenticated, whatever check
// failed, so that a caller learns nothing about which part of a credential
// was wrong. Authorization failures are ErrPermissionDenied, and rate
// limiting is a *RateLimitError that matches ErrRateLimited and carries how
// long to wait.
package auth

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"
)

// Scopes a credential can grant. Each RPC needs exactly one of them.
const (
	// ScopeUpload creates, completes and renames uploads, and checks names.
	ScopeUpload = "files:upload"
	// ScopeRead reads, lists and downloads files and reads usage.
	ScopeRead = "files:read"
	// ScopeDelete deletes files.
	ScopeDelete = "files:delete"
	// ScopeAdmin manages the API keys of the caller's own tenant. It does
	// not imply the other scopes.
	ScopeAdmin = "admin"
	// ScopeOwnerHeaders trusts the credential to name the owner of an
	// upload in the request headers a category maps to owner fields
	// (owner_headers), as a backend acting for its users does. It grants
	// no RPC by itself.
	ScopeOwnerHeaders = "owner:headers"
)

// AllScopes lists every scope, in a fixed order.
var AllScopes = []string{ScopeUpload, ScopeRead, ScopeDelete, ScopeAdmin, ScopeOwnerHeaders}

// ValidScope reports whether s names a scope.
func ValidScope(s string) bool { return slices.Contains(AllScopes, s) }

// Credential kinds, as the policy sees them in Principal.Kind.
const (
	KindAPIKey = "api_key"
	KindJWT    = "jwt"
)

// Principal is an authenticated caller.
type Principal struct {
	// Tenant is the only tenant whose records and objects the caller can
	// reach.
	Tenant string
	// Subject identifies the caller within the tenant: the API key's ID,
	// or the JWT's "sub" claim.
	Subject string
	// Issuer is the JWT's "iss" claim; empty for an API key.
	Issuer string
	// KeyID is the API key's ID; empty for a JWT.
	KeyID string
	// Scopes the credential grants; unknown scopes are dropped.
	Scopes []string
	// Categories, when not nil, are the only categories the caller may
	// upload to or read from. nil means every category.
	Categories []string
	// Kind is KindAPIKey or KindJWT.
	Kind string
	// DisplayName is a name for people: the string claim
	// JWTConfig.DisplayNameClaim names; empty for an API key, and when
	// the claim is not configured, absent or not a string.
	DisplayName string
	// ExpiresAt is when the credential stops working; zero for never.
	ExpiresAt time.Time
}

// HasScope reports whether p was granted scope.
func (p Principal) HasScope(scope string) bool { return slices.Contains(p.Scopes, scope) }

// AllowsCategory reports whether p may use category.
func (p Principal) AllowsCategory(category string) bool {
	return p.Categories == nil || slices.Contains(p.Categories, category)
}

// Sentinel errors. Match them with errors.Is.
var (
	// ErrUnauthenticated: no credential, or one that is unknown, malformed,
	// expired, revoked, badly signed, or for another issuer or audience.
	ErrUnauthenticated = errors.New("missing or invalid credential")
	// ErrPermissionDenied: a valid credential that lacks the scope or
	// category the call needs.
	ErrPermissionDenied = errors.New("permission denied")
	// ErrRateLimited: the tenant exceeded its rate; see RateLimitError.
	ErrRateLimited = errors.New("rate limit exceeded")
)

// RateLimitError is returned when a tenant goes over its rate. It matches
// ErrRateLimited.
type RateLimitError struct {
	// Op is the limited operation, e.g. "CreateUpload".
	Op string
	// RetryAfter is how long until the call would be accepted.
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("%s: %v for this tenant, retry in %s", e.Op, ErrRateLimited, e.RetryAfter.Round(time.Millisecond))
}

// Is makes errors.Is(err, ErrRateLimited) true.
func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }

// tenantPattern is what a tenant may look like: it becomes part of
// storage keys, so no slashes, dots at the start, or spaces.
var tenantPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$`)

// ValidTenant reports whether t can name a tenant: 1-128 letters, digits,
// '_' and '-', starting with a letter or digit.
func ValidTenant(t string) bool { return tenantPattern.MatchString(t) }

// cleanScopes keeps the known scopes of in, once each, in AllScopes order.
func cleanScopes(in []string) []string {
	out := make([]string, 0, len(AllScopes))
	for _, s := range AllScopes {
		if slices.Contains(in, s) {
			out = append(out, s)
		}
	}
	return out
}
