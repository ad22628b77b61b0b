package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/presignd/presignd/store"
)

// childKey returns a new key of parent's tenant created by parent.
func childKey(parent *store.APIKey) *store.APIKey {
	k := newAPIKey(parent.Tenant)
	k.ParentID = parent.ID
	return k
}

// wantRevokedAt checks that the key with k's hash reads back revoked at
// at, or not revoked when at is zero.
func wantRevokedAt(t *testing.T, s store.Store, name string, k *store.APIKey, at time.Time) {
	t.Helper()
	got, err := s.GetAPIKeyByHash(t.Context(), k.Hash)
	wantErr(t, "GetAPIKeyByHash of "+name, err, nil)
	for _, d := range diffTime(name+" RevokedAt", storedTime(at), got.RevokedAt) {
		t.Error(d)
	}
}

func testAPIKeyParents(t *testing.T, newStore func(*testing.T) store.Store) {
	t.Run("a key's parent key reads back", func(t *testing.T) {
		s := newStore(t)
		parent := newAPIKey(tenantA)
		mustCreateKey(t, s, parent)
		k := childKey(parent)
		mustCreateKey(t, s, k)
		got, err := s.GetAPIKeyByHash(t.Context(), k.Hash)
		wantErr(t, "GetAPIKeyByHash", err, nil)
		checkAPIKey(t, k, got)
	})
	t.Run("a key's creating JWT issuer and subject read back", func(t *testing.T) {
		s := newStore(t)
		k := newAPIKey(tenantA)
		k.CreatorIssuer, k.CreatorSubject = "https://issuer.test", "user-1"
		mustCreateKey(t, s, k)
		got, err := s.ListAPIKeys(t.Context(), tenantA)
		wantErr(t, "ListAPIKeys", err, nil)
		if len(got) != 1 {
			t.Fatalf("ListAPIKeys = %v, want one key", keyIDs(got))
		}
		checkAPIKey(t, k, got[0])
	})

	refused := []struct {
		name   string
		parent func(t *testing.T, s store.Store) string
	}{
		{"a key whose parent is revoked is not created", func(t *testing.T, s store.Store) string {
			p := newAPIKey(tenantA)
			mustCreateKey(t, s, p)
			_, err := s.RevokeAPIKey(t.Context(), tenantA, p.ID, base)
			wantErr(t, "RevokeAPIKey", err, nil)
			return p.ID
		}},
		{"a key whose parent is another tenant's is not created", func(t *testing.T, s store.Store) string {
			p := newAPIKey(tenantB)
			mustCreateKey(t, s, p)
			return p.ID
		}},
		{"a key whose parent does not exist is not created", func(t *testing.T, s store.Store) string { return "no-such-key" }},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			k := newAPIKey(tenantA)
			k.ParentID = tt.parent(t, s)
			wantErr(t, "CreateAPIKey", s.CreateAPIKey(t.Context(), k), store.ErrNotFound)
			_, err := s.GetAPIKeyByHash(t.Context(), k.Hash)
			wantErr(t, "GetAPIKeyByHash of the refused key", err, store.ErrNotFound)
		})
	}

	t.Run("revoking a key revokes the keys it created, transitively, and nothing else", func(t *testing.T) {
		s := newStore(t)
		root := newAPIKey(tenantA)
		mustCreateKey(t, s, root)
		parent := childKey(root)
		mustCreateKey(t, s, parent)
		sibling := childKey(root)
		mustCreateKey(t, s, sibling)
		child := childKey(parent)
		mustCreateKey(t, s, child)
		grandchild := childKey(child)
		mustCreateKey(t, s, grandchild)
		other := newAPIKey(tenantB)
		mustCreateKey(t, s, other)

		at := base.Add(time.Hour)
		got, err := s.RevokeAPIKey(t.Context(), tenantA, parent.ID, at)
		wantErr(t, "RevokeAPIKey", err, nil)
		if got.ID != parent.ID {
			t.Fatalf("RevokeAPIKey returned key %s, want %s", got.ID, parent.ID)
		}
		wantRevokedAt(t, s, "the revoked key", parent, at)
		wantRevokedAt(t, s, "its child", child, at)
		wantRevokedAt(t, s, "its grandchild", grandchild, at)
		wantRevokedAt(t, s, "its creator", root, time.Time{})
		wantRevokedAt(t, s, "its sibling", sibling, time.Time{})
		wantRevokedAt(t, s, "another tenant's key", other, time.Time{})
	})
	t.Run("a descendant revoked earlier keeps its first revocation time", func(t *testing.T) {
		s := newStore(t)
		parent := newAPIKey(tenantA)
		mustCreateKey(t, s, parent)
		child := childKey(parent)
		mustCreateKey(t, s, child)
		grandchild := childKey(child)
		mustCreateKey(t, s, grandchild)
		first := base.Add(time.Hour)
		_, err := s.RevokeAPIKey(t.Context(), tenantA, child.ID, first)
		wantErr(t, "RevokeAPIKey of the child", err, nil)
		_, err = s.RevokeAPIKey(t.Context(), tenantA, parent.ID, first.Add(time.Hour))
		wantErr(t, "RevokeAPIKey of the parent", err, nil)
		wantRevokedAt(t, s, "the child", child, first)
		wantRevokedAt(t, s, "the grandchild", grandchild, first)
		wantRevokedAt(t, s, "the parent", parent, first.Add(time.Hour))
	})
	t.Run("keys created while their parent is revoked are refused or revoked", func(t *testing.T) {
		s := newStore(t)
		root := newAPIKey(tenantA)
		mustCreateKey(t, s, root)
		parent := childKey(root)
		mustCreateKey(t, s, parent)
		const creators = 8
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			created []*store.APIKey
			start   = make(chan struct{})
		)
		for i := range creators {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				// Half the creators hang their keys under the parent, half
				// under a key they have just made under it: grandchildren
				// racing the sweep of the tree.
				under := parent
				for range 10 {
					k := childKey(under)
					err := s.CreateAPIKey(t.Context(), k)
					if errors.Is(err, store.ErrNotFound) {
						return
					}
					if err != nil {
						t.Errorf("CreateAPIKey: %v", err)
						return
					}
					mu.Lock()
					created = append(created, k)
					mu.Unlock()
					if i%2 == 1 {
						under = k
					}
				}
			}()
		}
		close(start)
		at := base.Add(time.Hour)
		_, err := s.RevokeAPIKey(t.Context(), tenantA, root.ID, at)
		wantErr(t, "RevokeAPIKey", err, nil)
		wg.Wait()
		for _, k := range created {
			got, err := s.GetAPIKeyByHash(t.Context(), k.Hash)
			wantErr(t, "GetAPIKeyByHash", err, nil)
			if got.RevokedAt.IsZero() {
				t.Errorf("key %s (parent %s) was created and survived the revocation of its ancestor", k.ID, k.ParentID)
			}
		}
		t.Logf("%d keys created before the revocation", len(created))
	})
}
