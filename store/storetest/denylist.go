package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/presignd/presignd/store"
)

func testDenyList(t *testing.T, newStore func(t *testing.T) store.Store) {
	s := newStore(t)
	ctx := context.Background()
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	entry := func(tenant, category, field, value string) *store.DenyEntry {
		return &store.DenyEntry{Tenant: tenant, Category: category, Field: field, Value: value, Reason: "blacklisted", CreatedAt: at}
	}
	for _, e := range []*store.DenyEntry{
		entry("acme", "kyc", "customer_id", "c2"),
		entry("acme", "kyc", "customer_id", "c1"),
		entry("acme", "avatars", "customer_id", "c1"),
		entry("globex", "kyc", "customer_id", "c1"),
	} {
		if err := s.AddDenyEntry(ctx, e); err != nil {
			t.Fatalf("AddDenyEntry(%+v): %v", e, err)
		}
	}
	keys := func(tenant string) []string {
		t.Helper()
		list, err := s.ListDenyEntries(ctx, tenant)
		if err != nil {
			t.Fatalf("ListDenyEntries(%s): %v", tenant, err)
		}
		var out []string
		for _, e := range list {
			if e.Tenant != tenant || e.Reason != "blacklisted" || !e.CreatedAt.Equal(at) {
				t.Errorf("entry %+v: want tenant %s, its reason and creation time", e, tenant)
			}
			out = append(out, e.Category+"/"+e.Field+"="+e.Value)
		}
		return out
	}

	t.Run("a tenant lists its own entries in order", func(t *testing.T) {
		if got, want := keys("acme"), []string{"avatars/customer_id=c1", "kyc/customer_id=c1", "kyc/customer_id=c2"}; !slices.Equal(got, want) {
			t.Errorf("acme's entries = %q, want %q", got, want)
		}
	})
	t.Run("adding an entry twice is ErrAlreadyExists", func(t *testing.T) {
		if err := s.AddDenyEntry(ctx, entry("acme", "kyc", "customer_id", "c1")); !errors.Is(err, store.ErrAlreadyExists) {
			t.Errorf("second AddDenyEntry = %v, want ErrAlreadyExists", err)
		}
	})
	t.Run("another tenant's entry cannot be removed", func(t *testing.T) {
		if err := s.RemoveDenyEntry(ctx, "globex", "avatars", "customer_id", "c1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("RemoveDenyEntry of acme's entry as globex = %v, want ErrNotFound", err)
		}
	})
	t.Run("a removed entry is gone and only it", func(t *testing.T) {
		if err := s.RemoveDenyEntry(ctx, "acme", "kyc", "customer_id", "c1"); err != nil {
			t.Fatal(err)
		}
		if err := s.RemoveDenyEntry(ctx, "acme", "kyc", "customer_id", "c1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("removing it again = %v, want ErrNotFound", err)
		}
		if got, want := keys("acme"), []string{"avatars/customer_id=c1", "kyc/customer_id=c2"}; !slices.Equal(got, want) {
			t.Errorf("acme's entries = %q, want %q", got, want)
		}
		if got, want := keys("globex"), []string{"kyc/customer_id=c1"}; !slices.Equal(got, want) {
			t.Errorf("globex's entries = %q, want %q", got, want)
		}
	})
	t.Run("a tenant without entries lists none", func(t *testing.T) {
		if got := keys("initech"); len(got) != 0 {
			t.Errorf("initech's entries = %q, want none", got)
		}
	})
}
