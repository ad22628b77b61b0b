package server

import (
	"context"
	"time"

	"github.com/presignd/presignd/store"
)

// objectQueue is a store that deletes a file record and queues its
// object's deletion in one transaction (store.Lifecycle); a sweeper
// retries queued deletions until the backend confirms them.
type objectQueue interface {
	DeleteFileAndQueueObject(ctx context.Context, tenant, id string, now, dueAt time.Time) (*store.Deletion, error)
	FinishDeletion(ctx context.Context, id int64) error
}

// retryQueuedDeleteAfter is how long a queued object deletion waits for
// the request that queued it to do it, before a sweeper may.
const retryQueuedDeleteAfter = time.Minute

// deleteQueued removes f's record and queues its object in one
// transaction, then deletes the object at once. If that fails, the record
// is gone all the same and a sweeper retries the object: a record never
// outlives its object, and an object never outlives its record for good.
func (s *Server) deleteQueued(ctx context.Context, q objectQueue, f *store.File) error {
	now := s.now()
	d, err := q.DeleteFileAndQueueObject(ctx, f.Tenant, f.ID, now, now.Add(retryQueuedDeleteAfter))
	if err != nil {
		return err
	}
	backend, ok := s.backends[f.Backend]
	if !ok {
		s.log.WarnContext(ctx, "object of a deleted file left to the sweeper: backend not configured", "file_id", f.ID, "backend", f.Backend)
		return nil
	}
	if err := backend.Delete(ctx, f.Key); err != nil {
		s.log.WarnContext(ctx, "object of a deleted file left to the sweeper", "file_id", f.ID, "err", err)
		return nil
	}
	if err := q.FinishDeletion(ctx, d.ID); err != nil {
		// Harmless: the sweeper deletes the (now missing) object again.
		s.log.WarnContext(ctx, "finish object deletion", "file_id", f.ID, "err", err)
	}
	return nil
}
