package storetest

import (
	"testing"
	"time"

	"github.com/presignd/presignd/store"
)

func testUsage(t *testing.T, newStore func(*testing.T) store.Store) {
	t1, t2, t3, t4 := base.Add(1*time.Hour), base.Add(2*time.Hour), base.Add(3*time.Hour+7), base.Add(4*time.Hour)
	seed := func(t *testing.T, s store.Store) {
		for _, e := range []struct {
			tenant, category string
			state            store.State
			size             int64
			completed        time.Time
		}{
			{tenantA, "documents", store.StateReady, 100, t1},
			{tenantA, "documents", store.StateReady, 200, t3},
			{tenantA, "images", store.StateReady, 400, t2},
			{tenantA, "documents", store.StatePending, 50, time.Time{}},
			{tenantA, "images", store.StatePending, 25, time.Time{}},
			{tenantA, "documents", store.StateFailed, 1000, t4},
			{tenantA, "images", store.StateExpired, 2000, time.Time{}},
			{tenantB, "documents", store.StateReady, 9999, t4.Add(time.Hour)},
		} {
			f := newFile(e.tenant)
			f.Category, f.State, f.SizeBytes, f.CompletedAt = e.category, e.state, e.size, e.completed
			mustCreate(t, s, f)
		}
	}
	tests := []struct {
		name     string
		tenant   string
		category string
		want     store.Usage
	}{
		{"a tenant's usage counts READY files, reserves PENDING ones and ignores FAILED and EXPIRED", tenantA, "",
			store.Usage{FileCount: 3, BytesUsed: 700, BytesReserved: 75, LastUploadAt: storedTime(t3)}},
		{"a category's usage counts only that category", tenantA, "documents",
			store.Usage{FileCount: 2, BytesUsed: 300, BytesReserved: 50, LastUploadAt: storedTime(t3)}},
		{"another category's last upload is its own", tenantA, "images",
			store.Usage{FileCount: 1, BytesUsed: 400, BytesReserved: 25, LastUploadAt: storedTime(t2)}},
		{"an unknown category has zero usage", tenantA, "videos", store.Usage{}},
		{"a tenant without files has zero usage", "tenant-c", "", store.Usage{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			seed(t, s)
			got, err := s.Usage(t.Context(), tt.tenant, tt.category)
			wantErr(t, "Usage", err, nil)
			if got.FileCount != tt.want.FileCount || got.BytesUsed != tt.want.BytesUsed || got.BytesReserved != tt.want.BytesReserved {
				t.Errorf("Usage = %+v, want %+v", got, tt.want)
			}
			for _, d := range diffTime("LastUploadAt", tt.want.LastUploadAt, got.LastUploadAt) {
				t.Error(d)
			}
		})
	}
}
