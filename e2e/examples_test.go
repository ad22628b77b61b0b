package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"gopkg.in/yaml.v3"
)

// tenant is the tenant of the instance's API key: the dev tenant.
func (inst *instance) tenant() string { return "dev" }

// startExample runs presignd on examples/<name>/config.yaml. With a
// non-nil backend, every backend of the example is replaced by it (the
// policy stays the example's), so one profile runs on each real backend.
func startExample(t *testing.T, name string, backend map[string]any) *instance {
	t.Helper()
	path := filepath.Join("..", "examples", name, "config.yaml")
	if backend != nil {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var cfg map[string]any
		if err := yaml.Unmarshal(raw, &cfg); err != nil {
			t.Fatal(err)
		}
		backends, _ := cfg["backends"].(map[string]any)
		for name := range backends {
			backends[name] = backend
		}
		out, err := yaml.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		path = filepath.Join(t.TempDir(), "config.yaml")
		if err := os.WriteFile(path, out, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return start(t, "--config", path)
}
