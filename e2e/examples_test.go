package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/presignd/presignd/auth/authtest"
)

// tenant is the tenant of the instance's API key: the dev tenant.
func (inst *instance) tenant() string { return "dev" }

// restWithToken is rest with a bearer JWT instead of the API key.
func (inst *instance) restWithToken(t *testing.T, token, method, path string, body any) (int, map[string]any) {
	t.Helper()
	return inst.restWithKey(t, token, method, path, body)
}

// sessionToken returns a JWT for tenant signed by the instance's trusted
// issuer, as a dashboard session would carry.
func (inst *instance) sessionToken(t *testing.T, tenant string) string {
	t.Helper()
	if inst.issuer == nil {
		t.Fatal("instance trusts no JWT issuer; start it with startExample")
	}
	return inst.issuer.Sign(t, authtest.RSAKey, inst.issuer.Valid(tenant))
}

// startExample runs presignd on examples/<name>/config.yaml. With a
// non-nil backend, every backend of the example is replaced by it (the
// policy stays the example's), so one profile runs on each real backend.
func startExample(t *testing.T, name string, backend map[string]any) *instance {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "examples", name, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	if backend != nil {
		backends, _ := cfg["backends"].(map[string]any)
		for name := range backends {
			backends[name] = backend
		}
	}
	// Every example instance also trusts a test JWT issuer, so that flows
	// needing a session token (tenant from the JWT, session-only
	// categories) can be replayed.
	issuer := authtest.New(t)
	// The example's own JWT settings (claim names) are kept.
	authCfg, _ := cfg["auth"].(map[string]any)
	if authCfg == nil {
		authCfg = map[string]any{}
	}
	jwtCfg, _ := authCfg["jwt"].(map[string]any)
	if jwtCfg == nil {
		jwtCfg = map[string]any{}
	}
	jwtCfg["jwks_url"], jwtCfg["issuer"], jwtCfg["audience"] = issuer.JWKSURL, issuer.Issuer, issuer.Audience
	authCfg["jwt"] = jwtCfg
	cfg["auth"] = authCfg
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	inst := start(t, "--config", path)
	inst.issuer = issuer
	return inst
}
