package sqlfiles

import (
	"testing"
	"time"

	"github.com/presignd/presignd/store"
)

func TestPrepareWatchKey(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	earlier, later := now.Add(-time.Hour), now.Add(time.Hour)
	for _, tc := range []struct {
		name                  string
		in                    store.WatchedKey
		wantCreated, wantNext time.Time
	}{
		{"both zero: created now, due at once", store.WatchedKey{}, now, now},
		{"created given: due then", store.WatchedKey{CreatedAt: earlier}, earlier, earlier},
		{"due given: kept", store.WatchedKey{NextCheck: later}, now, later},
		{"both given: kept", store.WatchedKey{CreatedAt: earlier, NextCheck: later}, earlier, later},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := tc.in
			PrepareWatchKey(&w, now)
			if !w.CreatedAt.Equal(tc.wantCreated) || !w.NextCheck.Equal(tc.wantNext) {
				t.Errorf("CreatedAt %s, NextCheck %s; want %s, %s", w.CreatedAt, w.NextCheck, tc.wantCreated, tc.wantNext)
			}
		})
	}
}

func TestCheckClaimLimit(t *testing.T) {
	for _, tc := range []struct {
		limit int
		ok    bool
	}{{-1, false}, {0, false}, {1, true}, {500, true}} {
		if err := CheckClaimLimit(tc.limit); (err == nil) != tc.ok {
			t.Errorf("CheckClaimLimit(%d) = %v, want ok %v", tc.limit, err, tc.ok)
		}
	}
}
