package sqlfiles

import (
	"fmt"
	"time"

	"github.com/presignd/presignd/store"
)

// WatchedKeyInsertColumns are the watched_keys columns WatchKey writes, in
// the order of the drivers' insert arguments.
const WatchedKeyInsertColumns = `backend, object_key, file_id, tenant, until, created_at, next_check`

// WatchedKeyColumns are the watched_keys columns the drivers read back, in
// the order of their scanWatchedKey.
const WatchedKeyColumns = `id, ` + WatchedKeyInsertColumns

// PrepareWatchKey puts w in the form WatchKey stores: a zero CreatedAt
// becomes now, a zero NextCheck becomes CreatedAt.
func PrepareWatchKey(w *store.WatchedKey, now time.Time) {
	if w.CreatedAt.IsZero() {
		w.CreatedAt = now
	}
	if w.NextCheck.IsZero() {
		w.NextCheck = w.CreatedAt
	}
}

// CheckClaimLimit refuses the non-positive limit of a ClaimWatchedKeys.
func CheckClaimLimit(limit int) error {
	if limit <= 0 {
		return fmt.Errorf("claim watched keys: limit %d is not positive", limit)
	}
	return nil
}
