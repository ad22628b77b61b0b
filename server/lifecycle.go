package server

import (
	"context"
	"fmt"
	"time"

	"github.com/presignd/presignd/store"
)

// lateArrivalWindow is how long after its upload target expired a file's
// key is still worth watching: a transfer that started before the expiry
// may land until then. A sweeper stops watching earlier, at its grace.
const lateArrivalWindow = time.Hour

// watchKey records f's key for the sweeper before f is deleted or failed,
// when the store can (store.Capabilities.KeyWatch), so that a sweeper
// removes what f's still valid upload target stores later, and when that
// target may still be used. The watch
// comes first: if the deletion then fails, the file is still live and the
// sweeper leaves its object alone.
func (s *Server) watchKey(ctx context.Context, f *store.File, now time.Time) error {
	kw := s.storeCaps.KeyWatch
	if kw == nil || f.UploadExpires.IsZero() || now.After(f.UploadExpires.Add(lateArrivalWindow)) {
		return nil
	}
	w := &store.WatchedKey{Backend: f.Backend, Key: f.Key, FileID: f.ID, Tenant: f.Tenant, Until: f.UploadExpires, CreatedAt: now}
	if err := kw.WatchKey(ctx, w); err != nil {
		return fmt.Errorf("watch key of file %s: %w", f.ID, err)
	}
	return nil
}

// retryQueuedDeleteAfter is how long a queued object deletion waits for
// the request that queued it to do it, before a sweeper may.
const retryQueuedDeleteAfter = time.Minute

// deleteQueued removes f's record and queues its object in one
// transaction (store.Lifecycle), then deletes the object at once, having
// aborted the multipart upload of a PENDING f. If that fails, the record
// is gone all the same and a sweeper retries the deletion (the queued
// deletion carries the multipart upload id): a record never outlives its
// object, and an object never outlives its record for good.
func (s *Server) deleteQueued(ctx context.Context, f *store.File) error {
	now := s.now()
	d, err := s.store.DeleteFileAndQueueObject(ctx, f.Tenant, f.ID, now, now.Add(retryQueuedDeleteAfter))
	if err != nil {
		return err
	}
	backend, ok := s.backends[f.Backend]
	if !ok {
		s.log.WarnContext(ctx, "object of a deleted file left to the sweeper: backend not configured", "file_id", f.ID, "backend", f.Backend)
		return nil
	}
	if f.State == store.StatePending && f.MultipartUploadID != "" {
		mp := s.backendCaps[f.Backend].Multipart
		if mp == nil {
			s.log.WarnContext(ctx, "multipart upload of a deleted file left to the sweeper: backend takes no multipart uploads", "file_id", f.ID)
			return nil
		}
		if err := mp.AbortMultipart(ctx, f.Key, f.MultipartUploadID); err != nil {
			s.log.WarnContext(ctx, "multipart upload of a deleted file left to the sweeper", "file_id", f.ID, "err", err)
			return nil
		}
	}
	// The thumbnails' deletions are queued too: one that fails here is
	// the sweeper's, and one that succeeds is done again by it, harmlessly.
	for _, t := range f.Thumbnails {
		if err := backend.Delete(ctx, t.Key); err != nil {
			s.log.WarnContext(ctx, "thumbnail of a deleted file left to the sweeper", "file_id", f.ID, "key", t.Key, "err", err)
		}
	}
	if err := backend.Delete(ctx, f.Key); err != nil {
		s.log.WarnContext(ctx, "object of a deleted file left to the sweeper", "file_id", f.ID, "err", err)
		return nil
	}
	if err := s.store.FinishDeletion(ctx, d.ID); err != nil {
		// Harmless: the sweeper deletes the (now missing) object again.
		s.log.WarnContext(ctx, "finish object deletion", "file_id", f.ID, "err", err)
	}
	return nil
}
