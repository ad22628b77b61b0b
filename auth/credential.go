package auth

import (
	"fmt"
	"strings"
)

// Credential is what a caller presented, before it is checked.
type Credential struct {
	// Kind is KindAPIKey or KindJWT, guessed from the credential's shape:
	// a JWS compact serialisation (three dot-separated parts) is a JWT,
	// anything else an API key.
	Kind  string
	Value string
}

// ParseCredential reads the caller's credential from the values of the
// "authorization" header ("Bearer <api key or JWT>") and the "x-api-key"
// header (an API key). Exactly one credential must be present; several
// headers, two credentials, another scheme, an empty or oversized value,
// or whitespace and control characters inside it are ErrUnauthenticated.
// It never panics, whatever the input.
func ParseCredential(authorization, apiKey []string) (Credential, error) {
	switch {
	case len(authorization) == 0 && len(apiKey) == 0:
		return Credential{}, fmt.Errorf(`%w: send "authorization: Bearer <api key or token>" or "x-api-key: <api key>"`, ErrUnauthenticated)
	case len(authorization)+len(apiKey) > 1:
		return Credential{}, fmt.Errorf("%w: send exactly one credential", ErrUnauthenticated)
	}
	if len(apiKey) == 1 {
		v := strings.TrimSpace(apiKey[0])
		if !wellFormed(v, maxAPIKeyLen) {
			return Credential{}, ErrUnauthenticated
		}
		return Credential{Kind: KindAPIKey, Value: v}, nil
	}
	scheme, token, ok := strings.Cut(strings.TrimSpace(authorization[0]), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return Credential{}, fmt.Errorf(`%w: the authorization scheme must be "Bearer"`, ErrUnauthenticated)
	}
	token = strings.TrimSpace(token)
	if !wellFormed(token, maxCredentialLen) {
		return Credential{}, ErrUnauthenticated
	}
	if looksLikeJWT(token) {
		return Credential{Kind: KindJWT, Value: token}, nil
	}
	if len(token) > maxAPIKeyLen {
		return Credential{}, ErrUnauthenticated
	}
	return Credential{Kind: KindAPIKey, Value: token}, nil
}

// wellFormed reports whether v is 1-max bytes of printable ASCII without
// spaces.
func wellFormed(v string, max int) bool {
	if v == "" || len(v) > max {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// looksLikeJWT reports whether v has the shape of a JWS compact
// serialisation: three non-empty base64url parts (the signature may not be
// empty: unsigned tokens are never accepted).
func looksLikeJWT(v string) bool {
	if strings.HasPrefix(v, APIKeyPrefix) || strings.Count(v, ".") != 2 {
		return false
	}
	for part := range strings.SplitSeq(v, ".") {
		if part == "" {
			return false
		}
		for i := 0; i < len(part); i++ {
			c := part[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}
