package storetest

import (
	"testing"
	"time"

	"github.com/presignd/presignd/store"
)

func testUsage(t *testing.T, newStore func(*testing.T) store.Store) {
	const (
		app1 = "files/application_id=1"
		app2 = "files/application_id=2"
	)
	t1, t2, t3, t4 := base.Add(1*time.Hour), base.Add(2*time.Hour), base.Add(3*time.Hour+7), base.Add(4*time.Hour)
	seed := func(t *testing.T, s store.Store) {
		for _, e := range []struct {
			tenant, category, scope string
			state                   store.State
			size                    int64
			completed, expires      time.Time
		}{
			{tenantA, "documents", app1, store.StateReady, 100, t1, base},
			{tenantA, "documents", app2, store.StateReady, 200, t3, base},
			{tenantA, "images", app1, store.StateReady, 400, t2, base},
			{tenantA, "documents", app1, store.StatePending, 50, time.Time{}, t2},
			{tenantA, "images", app2, store.StatePending, 25, time.Time{}, t4},
			{tenantA, "images", "", store.StatePending, 5, time.Time{}, time.Time{}}, // no expiry set
			{tenantA, "documents", app1, store.StateFailed, 1000, t4, t4},
			{tenantA, "images", "", store.StateExpired, 2000, time.Time{}, t4},
			{tenantB, "documents", app1, store.StateReady, 9999, t4.Add(time.Hour), base},
			{tenantB, "documents", app1, store.StatePending, 9999, time.Time{}, t4},
		} {
			f := newFile(e.tenant)
			f.Category, f.Scope, f.State, f.SizeBytes = e.category, e.scope, e.state, e.size
			f.CompletedAt, f.UploadExpires = e.completed, e.expires
			mustCreate(t, s, f)
		}
	}
	tests := []struct {
		name   string
		tenant string
		filter store.UsageFilter
		want   store.Usage
	}{
		{"a tenant's usage counts READY files, reserves every PENDING one and ignores FAILED and EXPIRED", tenantA, store.UsageFilter{},
			store.Usage{FileCount: 3, BytesUsed: 700, BytesReserved: 80, LastUploadAt: storedTime(t3)}},
		{"a category's usage counts only that category", tenantA, store.UsageFilter{Category: "documents"},
			store.Usage{FileCount: 2, BytesUsed: 300, BytesReserved: 50, LastUploadAt: storedTime(t3)}},
		{"another category's last upload is its own", tenantA, store.UsageFilter{Category: "images"},
			store.Usage{FileCount: 1, BytesUsed: 400, BytesReserved: 30, LastUploadAt: storedTime(t2)}},
		{"an unknown category has zero usage", tenantA, store.UsageFilter{Category: "videos"}, store.Usage{}},
		{"a scope's usage counts only that scope, across categories", tenantA, store.UsageFilter{Scope: app1},
			store.Usage{FileCount: 2, BytesUsed: 500, BytesReserved: 50, LastUploadAt: storedTime(t2)}},
		{"another scope's usage and last upload are its own", tenantA, store.UsageFilter{Scope: app2},
			store.Usage{FileCount: 1, BytesUsed: 200, BytesReserved: 25, LastUploadAt: storedTime(t3)}},
		{"category and scope filters combine", tenantA, store.UsageFilter{Category: "documents", Scope: app1},
			store.Usage{FileCount: 1, BytesUsed: 100, BytesReserved: 50, LastUploadAt: storedTime(t1)}},
		{"an unknown scope has zero usage", tenantA, store.UsageFilter{Scope: "files/application_id=3"}, store.Usage{}},
		{"before any upload target expires every PENDING file is reserved", tenantA, store.UsageFilter{Now: t1},
			store.Usage{FileCount: 3, BytesUsed: 700, BytesReserved: 80, LastUploadAt: storedTime(t3)}},
		{"a PENDING file whose upload target expires exactly at Now is no longer reserved", tenantA, store.UsageFilter{Now: t2},
			store.Usage{FileCount: 3, BytesUsed: 700, BytesReserved: 30, LastUploadAt: storedTime(t3)}},
		{"PENDING files whose upload targets expired before Now are no longer reserved, READY files still count", tenantA, store.UsageFilter{Now: t3},
			store.Usage{FileCount: 3, BytesUsed: 700, BytesReserved: 30, LastUploadAt: storedTime(t3)}},
		{"a PENDING file without an upload expiry stays reserved whatever Now is", tenantA, store.UsageFilter{Now: t4.Add(time.Hour)},
			store.Usage{FileCount: 3, BytesUsed: 700, BytesReserved: 5, LastUploadAt: storedTime(t3)}},
		{"Now combines with a scope", tenantA, store.UsageFilter{Scope: app1, Now: t3},
			store.Usage{FileCount: 2, BytesUsed: 500, BytesReserved: 0, LastUploadAt: storedTime(t2)}},
		{"Now combines with a category and a scope", tenantA, store.UsageFilter{Category: "images", Scope: app2, Now: t3},
			store.Usage{FileCount: 0, BytesUsed: 0, BytesReserved: 25}},
		{"a tenant without files has zero usage", "tenant-c", store.UsageFilter{}, store.Usage{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			seed(t, s)
			got, err := s.Usage(t.Context(), tt.tenant, tt.filter)
			wantErr(t, "Usage", err, nil)
			if got.FileCount != tt.want.FileCount || got.BytesUsed != tt.want.BytesUsed || got.BytesReserved != tt.want.BytesReserved {
				t.Errorf("Usage(%+v) = %+v, want %+v", tt.filter, got, tt.want)
			}
			for _, d := range diffTime("LastUploadAt", tt.want.LastUploadAt, got.LastUploadAt) {
				t.Error(d)
			}
		})
	}
}
