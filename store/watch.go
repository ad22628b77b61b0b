package store

import (
	"context"
	"time"
)

// WatchedKey is the object key of a deleted or failed file whose upload
// targets may still be used. A backend that cannot revoke a signed URL
// (S3, GCS) stores bytes sent there until the targets expire; a sweeper
// removes whatever arrives at the key until Until, plus its grace, has
// passed.
type WatchedKey struct {
	ID      int64
	Backend string
	Key     string
	FileID  string
	Tenant  string
	// Until is when the last upload target signed for the key expires.
	Until time.Time
	// NextCheck is when the key is next due to be checked (or its claim
	// ends).
	NextCheck time.Time
	CreatedAt time.Time
	// FileLive, filled in by ClaimWatchedKeys, reports that the file
	// still exists as PENDING or READY: the object at the key is then its
	// own and not a late arrival (the deletion that meant to orphan it
	// did not happen).
	FileLive bool
}

// KeyWatch remembers the keys of deleted and failed files until their
// upload targets have expired. Every claim is exclusive: when several
// replicas call at once, each key goes to one of them.
type KeyWatch interface {
	// WatchKey records w.Backend, Key, FileID, Tenant and Until, due
	// first at w.NextCheck (CreatedAt when zero), and sets w.ID and
	// w.CreatedAt (now when zero).
	WatchKey(ctx context.Context, w *WatchedKey) error
	// ClaimWatchedKeys takes up to limit watched keys due at or before now
	// (the soonest due first) and returns them in ID order, after moving
	// each one's NextCheck to nextCheck:
	// no other caller gets them before then. A non-positive limit is an
	// error.
	ClaimWatchedKeys(ctx context.Context, now, nextCheck time.Time, limit int) ([]*WatchedKey, error)
	// UnwatchKey forgets watched key id; a missing one is not an error.
	UnwatchKey(ctx context.Context, id int64) error
}
