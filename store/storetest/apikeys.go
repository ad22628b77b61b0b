package storetest

import (
	"crypto/sha256"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/presignd/presignd/store"
)

func newAPIKey(tenant string) *store.APIKey {
	secret := "pk_" + uuid.NewString()
	sum := sha256.Sum256([]byte(secret))
	return &store.APIKey{
		ID:        uuid.NewString(),
		Tenant:    tenant,
		Prefix:    secret[:11],
		Hash:      sum[:],
		Scopes:    []string{"files:upload", "files:read"},
		CreatedAt: base.In(time.FixedZone("PST", -8*3600)),
	}
}

func checkAPIKey(t *testing.T, want, got *store.APIKey) {
	t.Helper()
	if got.ID != want.ID || got.Tenant != want.Tenant || got.Prefix != want.Prefix || !slices.Equal(got.Hash, want.Hash) {
		t.Errorf("key = {%s %s %s %x}, want {%s %s %s %x}", got.ID, got.Tenant, got.Prefix, got.Hash, want.ID, want.Tenant, want.Prefix, want.Hash)
	}
	if len(want.Scopes) == 0 && got.Scopes != nil {
		t.Errorf("Scopes = %#v, want nil", got.Scopes)
	}
	if !slices.Equal(got.Scopes, want.Scopes) {
		t.Errorf("Scopes = %q, want %q", got.Scopes, want.Scopes)
	}
	if len(want.Categories) == 0 && got.Categories != nil {
		t.Errorf("Categories = %#v, want nil", got.Categories)
	}
	if !slices.Equal(got.Categories, want.Categories) {
		t.Errorf("Categories = %q, want %q", got.Categories, want.Categories)
	}
	if got.ParentID != want.ParentID || got.CreatorIssuer != want.CreatorIssuer || got.CreatorSubject != want.CreatorSubject {
		t.Errorf("creator = {%q %q %q}, want {%q %q %q}", got.ParentID, got.CreatorIssuer, got.CreatorSubject, want.ParentID, want.CreatorIssuer, want.CreatorSubject)
	}
	for _, d := range diffTime("CreatedAt", storedTime(want.CreatedAt), got.CreatedAt) {
		t.Error(d)
	}
	for _, d := range diffTime("ExpiresAt", storedTime(want.ExpiresAt), got.ExpiresAt) {
		t.Error(d)
	}
	for _, d := range diffTime("RevokedAt", storedTime(want.RevokedAt), got.RevokedAt) {
		t.Error(d)
	}
}

func testAPIKeys(t *testing.T, newStore func(*testing.T) store.Store) {
	roundTrips := []struct {
		name string
		key  func() *store.APIKey
	}{
		{"a key reads back by its hash with its scopes in order", func() *store.APIKey { return newAPIKey(tenantA) }},
		{"a key's expiry and revocation times read back", func() *store.APIKey {
			k := newAPIKey(tenantA)
			k.Scopes = []string{"admin", "files:delete", "files:upload", "files:read"}
			k.ExpiresAt = base.Add(24*time.Hour + 1)
			k.RevokedAt = base.Add(time.Hour + 1)
			return k
		}},
		{"a key without scopes reads back with nil scopes", func() *store.APIKey {
			k := newAPIKey(tenantA)
			k.Scopes = nil
			return k
		}},
		{"a key's category limits read back in order", func() *store.APIKey {
			k := newAPIKey(tenantA)
			k.Categories = []string{"identity", "avatars"}
			return k
		}},
		{"a key with empty category limits reads back with nil categories", func() *store.APIKey {
			k := newAPIKey(tenantA)
			k.Categories = []string{}
			return k
		}},
	}
	for _, tt := range roundTrips {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			k := tt.key()
			mustCreateKey(t, s, newAPIKey(tenantB)) // another key the lookup must not return
			mustCreateKey(t, s, k)
			got, err := s.GetAPIKeyByHash(t.Context(), k.Hash)
			wantErr(t, "GetAPIKeyByHash", err, nil)
			checkAPIKey(t, k, got)
		})
	}

	duplicates := []struct {
		name   string
		second func(first, second *store.APIKey)
	}{
		{"a second key with the same ID is ErrAlreadyExists", func(a, b *store.APIKey) { b.ID = a.ID }},
		{"a second key with the same hash is ErrAlreadyExists", func(a, b *store.APIKey) { b.Hash = slices.Clone(a.Hash) }},
		{"a key with another tenant's key hash is ErrAlreadyExists", func(a, b *store.APIKey) { b.Hash, b.Tenant = slices.Clone(a.Hash), tenantB }},
	}
	for _, tt := range duplicates {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			a, b := newAPIKey(tenantA), newAPIKey(tenantA)
			tt.second(a, b)
			mustCreateKey(t, s, a)
			wantErr(t, "CreateAPIKey of the second key", s.CreateAPIKey(t.Context(), b), store.ErrAlreadyExists)
			got, err := s.GetAPIKeyByHash(t.Context(), a.Hash)
			wantErr(t, "GetAPIKeyByHash of the first key", err, nil)
			checkAPIKey(t, a, got)
		})
	}

	t.Run("an unknown hash is ErrNotFound", func(t *testing.T) {
		s := newStore(t)
		mustCreateKey(t, s, newAPIKey(tenantA))
		sum := sha256.Sum256([]byte("not a key"))
		_, err := s.GetAPIKeyByHash(t.Context(), sum[:])
		wantErr(t, "GetAPIKeyByHash", err, store.ErrNotFound)
	})
}

func testAPIKeyListAndRevoke(t *testing.T, newStore func(*testing.T) store.Store) {
	t.Run("a tenant lists only its own keys, newest first", func(t *testing.T) {
		s := newStore(t)
		var want []*store.APIKey
		for i := range 3 {
			k := newAPIKey(tenantA)
			k.CreatedAt = base.Add(time.Duration(i) * time.Minute)
			if i == 1 {
				k.Categories = []string{"identity"}
				k.RevokedAt = base.Add(time.Hour)
			}
			mustCreateKey(t, s, k)
			want = append([]*store.APIKey{k}, want...)
		}
		mustCreateKey(t, s, newAPIKey(tenantB))
		got, err := s.ListAPIKeys(t.Context(), tenantA)
		wantErr(t, "ListAPIKeys", err, nil)
		if len(got) != len(want) {
			t.Fatalf("ListAPIKeys returned %d keys, want %d", len(got), len(want))
		}
		for i := range want {
			checkAPIKey(t, want[i], got[i])
		}
	})
	t.Run("keys created at the same time list by ID descending", func(t *testing.T) {
		s := newStore(t)
		a, b := newAPIKey(tenantA), newAPIKey(tenantA)
		a.ID, b.ID = "key-a", "key-b"
		mustCreateKey(t, s, a)
		mustCreateKey(t, s, b)
		got, err := s.ListAPIKeys(t.Context(), tenantA)
		wantErr(t, "ListAPIKeys", err, nil)
		if len(got) != 2 || got[0].ID != "key-b" || got[1].ID != "key-a" {
			t.Fatalf("ListAPIKeys order = %v, want key-b, key-a", keyIDs(got))
		}
	})
	t.Run("a tenant without keys lists none", func(t *testing.T) {
		s := newStore(t)
		mustCreateKey(t, s, newAPIKey(tenantB))
		got, err := s.ListAPIKeys(t.Context(), tenantA)
		wantErr(t, "ListAPIKeys", err, nil)
		if len(got) != 0 {
			t.Fatalf("ListAPIKeys = %v, want none", keyIDs(got))
		}
	})
	t.Run("a revoked key reads back revoked by its hash", func(t *testing.T) {
		s := newStore(t)
		k := newAPIKey(tenantA)
		mustCreateKey(t, s, k)
		at := base.Add(2 * time.Hour)
		got, err := s.RevokeAPIKey(t.Context(), tenantA, k.ID, at)
		wantErr(t, "RevokeAPIKey", err, nil)
		k.RevokedAt = at
		checkAPIKey(t, k, got)
		got, err = s.GetAPIKeyByHash(t.Context(), k.Hash)
		wantErr(t, "GetAPIKeyByHash", err, nil)
		checkAPIKey(t, k, got)
	})
	t.Run("revoking twice keeps the first revocation time", func(t *testing.T) {
		s := newStore(t)
		k := newAPIKey(tenantA)
		mustCreateKey(t, s, k)
		first := base.Add(time.Hour)
		_, err := s.RevokeAPIKey(t.Context(), tenantA, k.ID, first)
		wantErr(t, "first RevokeAPIKey", err, nil)
		got, err := s.RevokeAPIKey(t.Context(), tenantA, k.ID, first.Add(time.Hour))
		wantErr(t, "second RevokeAPIKey", err, nil)
		k.RevokedAt = first
		checkAPIKey(t, k, got)
	})
	t.Run("another tenant's key cannot be revoked and stays valid", func(t *testing.T) {
		s := newStore(t)
		k := newAPIKey(tenantB)
		mustCreateKey(t, s, k)
		_, err := s.RevokeAPIKey(t.Context(), tenantA, k.ID, base)
		wantErr(t, "RevokeAPIKey of another tenant's key", err, store.ErrNotFound)
		got, err := s.GetAPIKeyByHash(t.Context(), k.Hash)
		wantErr(t, "GetAPIKeyByHash", err, nil)
		checkAPIKey(t, k, got)
	})
	t.Run("an unknown key cannot be revoked", func(t *testing.T) {
		s := newStore(t)
		_, err := s.RevokeAPIKey(t.Context(), tenantA, "no-such-key", base)
		wantErr(t, "RevokeAPIKey", err, store.ErrNotFound)
	})
}

func keyIDs(keys []*store.APIKey) []string {
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.ID
	}
	return ids
}

func mustCreateKey(t *testing.T, s store.Store, k *store.APIKey) {
	t.Helper()
	if err := s.CreateAPIKey(t.Context(), k); err != nil {
		t.Fatalf("CreateAPIKey(%s): %v", k.ID, err)
	}
}
