package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/presignd/presignd/store"
)

func testExpiringUploads(t *testing.T, newStore func(t *testing.T) store.Store) {
	now := base.Add(time.Hour)

	t.Run("ExpiringUploads lists the PENDING uploads past their expiry, oldest first, and changes nothing", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		expiredA := pendingUntil(tenantA, now.Add(-time.Minute))
		expiredB := pendingUntil(tenantB, now.Add(-2*time.Minute))
		atNow := pendingUntil(tenantA, now)
		later := pendingUntil(tenantA, now.Add(time.Minute))
		never := pendingUntil(tenantA, time.Time{})
		ready := pendingUntil(tenantA, now.Add(-time.Minute))
		ready.State = store.StateReady
		for _, f := range []*store.File{expiredA, expiredB, atNow, later, never, ready} {
			mustCreate(t, s, f)
		}
		for limit, want := range map[int][]string{
			10: {expiredB.ID, expiredA.ID, atNow.ID},
			2:  {expiredB.ID, expiredA.ID},
		} {
			got, err := s.ExpiringUploads(ctx, now, limit)
			wantErr(t, "ExpiringUploads", err, nil)
			if !slices.Equal(ids(got), want) {
				t.Fatalf("ExpiringUploads(limit %d) = %v, want %v", limit, ids(got), want)
			}
			for _, f := range got {
				if f.State != store.StatePending || f.Key == "" || f.Tenant == "" {
					t.Fatalf("listed file %+v: want the whole PENDING record", f)
				}
			}
		}
		for _, f := range []*store.File{expiredA, expiredB, atNow} {
			if g := mustGet(t, s, f.Tenant, f.ID); g.State != store.StatePending {
				t.Fatalf("file %s is %s after ExpiringUploads, want it left PENDING", f.ID, g.State)
			}
		}
		if expired := expirePast(t, s, now, now); !slices.Equal(ids(expired), []string{expiredB.ID, expiredA.ID, atNow.ID}) {
			t.Fatalf("ExpireUploads of the listing = %v, want the files listed", ids(expired))
		}
		if got, err := s.ExpiringUploads(ctx, now, 10); err != nil || len(got) != 0 {
			t.Fatalf("ExpiringUploads after the expiry = %v, %v; want nothing", ids(got), err)
		}
		if _, err := s.ExpiringUploads(ctx, now, 0); err == nil {
			t.Fatal("ExpiringUploads with limit 0: no error")
		}
	})
}
