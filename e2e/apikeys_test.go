package e2e

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/presignd/presignd/auth/authtest"
	"github.com/presignd/presignd/config"
)

// startWithIssuer starts presignd trusting a test JWT issuer (tenant "dev",
// the dev key's) and with extra appended to its configuration.
func startWithIssuer(t *testing.T, extra string) (*instance, *authtest.Issuer) {
	t.Helper()
	iss := authtest.New(t)
	cfg := writeConfig(t, fmt.Sprintf("auth:\n  jwt: {jwks_url: %q, issuer: %q, audience: %q}\n", iss.JWKSURL, iss.Issuer, iss.Audience)+extra)
	inst := start(t, "--config", cfg)
	inst.issuer = iss
	return inst, iss
}

// createKey creates an API key through REST with credential key and
// returns the status and the decoded answer.
func (inst *instance) createKey(t *testing.T, key string, body map[string]any) (int, map[string]any) {
	t.Helper()
	return inst.restWithKey(t, key, "POST", "/v1/admin/apiKeys", body)
}

// expireTime reads a key's expire_time from a CreateApiKey answer; zero
// when it has none.
func expireTime(t *testing.T, created map[string]any) time.Time {
	t.Helper()
	s := str(created, "api_key.expire_time")
	if s == "" {
		return time.Time{}
	}
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("expire_time %q: %v", s, err)
	}
	return tm
}

// TestShortLivedAdminCredentialMintsImmortalKey is issue 18 defect 5. An
// admin key expiring in an hour, or a 60-second admin JWT, created admin
// keys without expiry that survived the parent's revocation. Now a key
// expires with its creator (or is refused a longer ttl, on the field),
// records it, and is revoked with it, transitively.
func TestShortLivedAdminCredentialMintsImmortalKey(t *testing.T) {
	inst, iss := startWithIssuer(t, "")
	admin := []any{"admin", "files:read"}

	code, hour := inst.createKey(t, inst.APIKey, map[string]any{"scopes": admin, "ttl": "3600s"})
	if code != http.StatusOK {
		t.Fatalf("create the one-hour admin key: %d %v", code, hour)
	}
	hourKey, hourID, hourExpiry := str(hour, "secret"), str(hour, "api_key.api_key_id"), expireTime(t, hour)

	t.Run("a key made by a one-hour admin key without ttl expires with it", func(t *testing.T) {
		code, child := inst.createKey(t, hourKey, map[string]any{"scopes": admin})
		if code != http.StatusOK {
			t.Fatalf("%d %v", code, child)
		}
		if got := expireTime(t, child); got.IsZero() || got.After(hourExpiry) || hourExpiry.Sub(got) > time.Second {
			t.Fatalf("expire_time %v, want its parent's %v", got, hourExpiry)
		}
		if got := str(child, "api_key.parent_api_key_id"); got != hourID {
			t.Fatalf("parent_api_key_id %q, want %q", got, hourID)
		}
	})
	t.Run("a one-hour admin key cannot make a two-hour key", func(t *testing.T) {
		code, body := inst.createKey(t, hourKey, map[string]any{"scopes": admin, "ttl": "7200s"})
		if code != http.StatusBadRequest || !slices.Equal(violatedFields(body), []string{"ttl"}) {
			t.Fatalf("%d %v, want 400 on ttl", code, body)
		}
	})

	claims := iss.Valid("dev")
	claims.Expires = time.Now().Add(60 * time.Second).Truncate(time.Second)
	jwt := iss.Sign(t, authtest.RSAKey, claims)
	t.Run("a key made by a 60-second admin JWT without ttl expires with the JWT", func(t *testing.T) {
		code, child := inst.createKey(t, jwt, map[string]any{"scopes": admin})
		if code != http.StatusOK {
			t.Fatalf("%d %v", code, child)
		}
		if got := expireTime(t, child); !got.Equal(claims.Expires) {
			t.Fatalf("expire_time %v, want the JWT's exp %v", got, claims.Expires)
		}
		if str(child, "api_key.creator_issuer") != iss.Issuer || str(child, "api_key.creator_subject") != claims.Subject {
			t.Fatalf("creator %q %q, want the JWT's %q %q", str(child, "api_key.creator_issuer"), str(child, "api_key.creator_subject"), iss.Issuer, claims.Subject)
		}
	})
	t.Run("a 60-second admin JWT cannot make a one-hour key", func(t *testing.T) {
		code, body := inst.createKey(t, jwt, map[string]any{"scopes": admin, "ttl": "3600s"})
		if code != http.StatusBadRequest || !slices.Equal(violatedFields(body), []string{"ttl"}) {
			t.Fatalf("%d %v, want 400 on ttl", code, body)
		}
	})

	t.Run("revoking an admin key revokes the keys it made and theirs", func(t *testing.T) {
		code, child := inst.createKey(t, hourKey, map[string]any{"scopes": admin})
		if code != http.StatusOK {
			t.Fatalf("child: %d %v", code, child)
		}
		code, grandchild := inst.createKey(t, str(child, "secret"), map[string]any{"scopes": admin})
		if code != http.StatusOK {
			t.Fatalf("grandchild: %d %v", code, grandchild)
		}
		keys := map[string]string{"the parent": hourKey, "its child": str(child, "secret"), "its grandchild": str(grandchild, "secret")}
		for name, k := range keys {
			if code, body := inst.restWithKey(t, k, "GET", "/v1/files", nil); code != http.StatusOK {
				t.Fatalf("%s before the revocation: %d %v", name, code, body)
			}
		}
		if code, body := inst.rest(t, "POST", "/v1/admin/apiKeys/"+hourID+":revoke", map[string]any{}); code != http.StatusOK {
			t.Fatalf("revoke: %d %v", code, body)
		}
		for name, k := range keys {
			if code, body := inst.restWithKey(t, k, "GET", "/v1/files", nil); code != http.StatusUnauthorized {
				t.Errorf("%s after the revocation: %d %v, want 401", name, code, body)
			}
		}
		if code, body := inst.rest(t, "GET", "/v1/files", nil); code != http.StatusOK {
			t.Errorf("the dev key, which made the revoked key, after the revocation: %d %v", code, body)
		}
	})
}

// TestRevokedKeyRefusedOnEveryReplicaWithinCacheTTL is issue 25's
// revocation delay: API keys are cached by default, and a key revoked on
// one replica is refused on another, which had it cached, within
// auth.api_key_cache_ttl (DefaultAPIKeyCacheTTL); so are the keys it made.
// The replica that revokes refuses them at once.
func TestRevokedKeyRefusedOnEveryReplicaWithinCacheTTL(t *testing.T) {
	cfg, _, _ := postgresReplicas(t, "sweeper: {interval: 0s}\n")
	a := start(t, "--config", cfg)
	b := start(t, "--config", cfg)
	admin := []any{"admin", "files:read"}
	code, parent := a.createKey(t, a.APIKey, map[string]any{"scopes": admin})
	if code != http.StatusOK {
		t.Fatalf("create on A: %d %v", code, parent)
	}
	code, child := a.createKey(t, str(parent, "secret"), map[string]any{"scopes": admin})
	if code != http.StatusOK {
		t.Fatalf("create a child on A: %d %v", code, child)
	}
	keys := map[string]string{"the revoked key": str(parent, "secret"), "the key it made": str(child, "secret")}
	for name, k := range keys {
		for inst, replica := range map[string]*instance{"A": a, "B": b} {
			if code, body := replica.restWithKey(t, k, "GET", "/v1/files", nil); code != http.StatusOK {
				t.Fatalf("%s on %s before the revocation: %d %v", name, inst, code, body)
			}
		}
	}

	revoked := time.Now()
	if code, body := a.rest(t, "POST", "/v1/admin/apiKeys/"+str(parent, "api_key.api_key_id")+":revoke", map[string]any{}); code != http.StatusOK {
		t.Fatalf("revoke on A: %d %v", code, body)
	}
	for name, k := range keys {
		if code, _ := a.restWithKey(t, k, "GET", "/v1/files", nil); code != http.StatusUnauthorized {
			t.Errorf("%s on A, which revoked it: %d, want 401 at once", name, code)
		}
	}
	// B looked both keys up moments ago; it may serve them until its cache
	// entries are DefaultAPIKeyCacheTTL old, and must refuse them after.
	// The slack covers the calls' own time on a loaded machine.
	const slack = 2 * time.Second
	deadline := revoked.Add(config.DefaultAPIKeyCacheTTL + slack)
	for name, k := range keys {
		for {
			code, body := b.restWithKey(t, k, "GET", "/v1/files", nil)
			if code == http.StatusUnauthorized {
				t.Logf("%s refused on B %s after the revocation on A", name, time.Since(revoked).Round(10*time.Millisecond))
				break
			}
			if code != http.StatusOK {
				t.Fatalf("%s on B: %d %v", name, code, body)
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s still works on B %s after its revocation on A; the documented delay is %s", name, time.Since(revoked).Round(time.Millisecond), config.DefaultAPIKeyCacheTTL)
			}
			time.Sleep(50 * time.Millisecond) // polling interval, not synchronisation
		}
	}
	if code, body := b.rest(t, "GET", "/v1/files", nil); code != http.StatusOK {
		t.Errorf("the dev key on B: %d %v", code, body)
	}
}
