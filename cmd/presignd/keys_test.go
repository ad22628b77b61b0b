package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/presignd/presignd/store"
)

func TestKeysCreateListRevoke(t *testing.T) {
	dir := t.TempDir()
	runOK := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := run(append(args, "--data-dir", dir), &out, &errOut); err != nil {
			t.Fatalf("presignd %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
		}
		return out.String()
	}
	created := runOK("keys", "create", "--tenant", "acme", "--scopes", "files:read,files:upload", "--categories", "docs", "--expires", "24h")
	secret := regexp.MustCompile(`secret:\s+(psk_[a-z2-7]{32})`).FindStringSubmatch(created)
	id := regexp.MustCompile(`id:\s+(ak_\S+)`).FindStringSubmatch(created)
	if secret == nil || id == nil {
		t.Fatalf("create printed no id or secret:\n%s", created)
	}
	list := runOK("keys", "list", "--tenant", "acme")
	if !strings.Contains(list, id[1]) || strings.Contains(list, secret[1]) {
		t.Fatalf("list must show the key but never its secret:\n%s", list)
	}
	if other := runOK("keys", "list", "--tenant", "globex"); strings.Contains(other, id[1]) {
		t.Fatalf("another tenant's list shows the key:\n%s", other)
	}
	var out, errOut bytes.Buffer
	if err := run([]string{"keys", "revoke", "--tenant", "globex", "--data-dir", dir, id[1]}, &out, &errOut); err == nil {
		t.Fatal("another tenant revoked the key")
	}
	if got := runOK("keys", "revoke", "--tenant", "acme", id[1]); !strings.Contains(got, "revoked "+id[1]) {
		t.Fatalf("revoke printed %q", got)
	}
	if got := runOK("keys", "list", "--tenant", "acme"); strings.Count(got, "\n") != 2 || strings.HasSuffix(strings.TrimSpace(got), "-") {
		t.Fatalf("list after revoke should show a revocation time:\n%s", got)
	}
}

func TestKeysRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"keys", "create", "--scopes", "files:read"},
		{"keys", "create", "--tenant", "acme"},
		{"keys", "create", "--tenant", "acme", "--scopes", "files:everything"},
		{"keys", "create", "--tenant", "a/b", "--scopes", "files:read"},
		{"keys", "revoke", "--tenant", "acme"},
		{"keys", "rotate", "--tenant", "acme"},
	} {
		var out, errOut bytes.Buffer
		if err := run(append(args, "--data-dir", dir), &out, &errOut); err == nil {
			t.Errorf("presignd %s succeeded:\n%s", strings.Join(args, " "), out.String())
		}
	}
}

func TestKeysListShowsTheCreator(t *testing.T) {
	tests := []struct {
		name string
		key  store.APIKey
		want string
	}{
		{"a key made by another key shows its parent", store.APIKey{ParentID: "ak_parent"}, "ak_parent"},
		{"a key made by a JWT shows its issuer and subject", store.APIKey{CreatorIssuer: "https://idp.test", CreatorSubject: "user-1"}, "jwt https://idp.test user-1"},
		{"a key made by the operator shows a dash", store.APIKey{}, "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := createdBy(&tt.key); got != tt.want {
				t.Fatalf("createdBy = %q, want %q", got, tt.want)
			}
		})
	}
}
