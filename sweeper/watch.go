package sweeper

import (
	"context"
	"errors"
	"fmt"

	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/store"
)

// watchKeys checks the due watched keys (when the store keeps them:
// Config.KeyWatch) and deletes what arrived at them. Only store errors are
// returned.
func (s *Sweeper) watchKeys(ctx context.Context, c *Counts) error {
	kw := s.cfg.KeyWatch
	if kw == nil {
		return nil
	}
	for range s.cfg.MaxBatches {
		now := s.cfg.Now()
		ws, err := kw.ClaimWatchedKeys(ctx, now, now.Add(s.cfg.Interval/2), s.cfg.BatchSize)
		if err != nil {
			return fmt.Errorf("claim watched keys: %w", err)
		}
		for _, w := range ws {
			if err := s.checkWatched(ctx, kw, w, c); err != nil {
				return err
			}
		}
		if len(ws) < s.cfg.BatchSize {
			break
		}
	}
	return nil
}

// checkWatched deletes the object at a watched key whose file is gone or
// FAILED, and forgets the key once its upload targets expired more than
// Grace ago (this check being the last). A backend failure keeps the key
// for the next sweep; only store errors are returned.
func (s *Sweeper) checkWatched(ctx context.Context, kw store.KeyWatch, w *store.WatchedKey, c *Counts) error {
	last := !s.cfg.Now().Before(w.Until.Add(s.cfg.Grace))
	backend, ok := s.cfg.Backends[w.Backend]
	if ok && !w.FileLive {
		_, err := backend.Stat(ctx, w.Key)
		switch {
		case errors.Is(err, signer.ErrNotFound):
		case err == nil:
			if err := backend.Delete(ctx, w.Key); err != nil {
				return s.watchFailed(ctx, w, err)
			}
			c.LateUploads++
			s.metrics.lateUploads.Inc()
			s.cfg.Logger.WarnContext(ctx, "deleted an object uploaded after its file was deleted or failed",
				"tenant", w.Tenant, "file_id", w.FileID, "backend", w.Backend)
		default:
			return s.watchFailed(ctx, w, err)
		}
	}
	if last {
		if err := kw.UnwatchKey(ctx, w.ID); err != nil {
			return fmt.Errorf("unwatch key %d: %w", w.ID, err)
		}
	}
	return nil
}

// watchFailed logs a backend failure on a watched key, which stays watched.
func (s *Sweeper) watchFailed(ctx context.Context, w *store.WatchedKey, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	s.cfg.Logger.WarnContext(ctx, "watched key check failed; will retry", "tenant", w.Tenant, "file_id", w.FileID,
		"backend", w.Backend, "err", err)
	return nil
}

// removeLeftovers asks each backend that keeps leftovers to remove them.
// A failure is logged; the next sweep tries again.
func (s *Sweeper) removeLeftovers(ctx context.Context, c *Counts) {
	for name, b := range s.cfg.Leftovers {
		n, err := b.RemoveLeftovers(ctx)
		c.Leftovers += n
		s.metrics.leftovers.Add(float64(n))
		if err != nil && ctx.Err() == nil {
			s.cfg.Logger.WarnContext(ctx, "removing backend leftovers failed", "backend", name, "err", err)
		}
	}
}
