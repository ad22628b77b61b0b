package sweeper

import (
	"context"
	"errors"
	"fmt"

	"github.com/presignd/presignd/signer"
)

// reasonOrphan labels the multipart uploads aborted because no record
// knew them.
const reasonOrphan = "orphan"

// abortMultipart aborts the multipart upload uploadID of key on the
// backend named backend, having listed its parts to count their bytes,
// and reports whether the backend still held it. An upload the backend no
// longer knows (completed, aborted already: ListParts' ErrNotFound) is
// aborted all the same, which is harmless, and is not counted. reason
// labels the metrics.
func (s *Sweeper) abortMultipart(ctx context.Context, mp signer.MultipartUploader, backend, key, uploadID, reason string,
	c *Counts) (held bool, err error) {
	parts, err := mp.ListParts(ctx, key, uploadID)
	switch {
	case errors.Is(err, signer.ErrNotFound):
	case err != nil:
		return false, fmt.Errorf("list parts of multipart upload %s: %w", uploadID, err)
	default:
		held = true
	}
	if err := mp.AbortMultipart(ctx, key, uploadID); err != nil {
		return false, fmt.Errorf("abort multipart upload %s: %w", uploadID, err)
	}
	if !held {
		return false, nil
	}
	var size int64
	for _, p := range parts {
		size += p.Size
	}
	c.MultipartAborted++
	c.MultipartAbortedBytes += size
	s.metrics.multipartAborted.WithLabelValues(reason).Inc()
	s.metrics.multipartAbortedBytes.WithLabelValues(reason).Add(float64(size))
	s.cfg.Logger.DebugContext(ctx, "multipart upload aborted", "backend", backend, "upload_id", uploadID,
		"parts", len(parts), "bytes", size, "reason", reason)
	return true, nil
}

// abortOrphans aborts, on each backend of Config.MultipartListers, the
// multipart uploads initiated more than OrphanAge ago that no PENDING
// file holds: a crash between the backend's CreateMultipart and the
// record's write, or a record lost, leaves them behind, billed and
// unlisted. One listing per backend and sweep takes up to BatchSize *
// MaxBatches uploads, oldest first. A backend failure is logged and
// retried by the next sweep; only store errors are returned.
func (s *Sweeper) abortOrphans(ctx context.Context, c *Counts) error {
	for name, lister := range s.cfg.MultipartListers {
		before := s.cfg.Now().Add(-s.cfg.OrphanAge)
		uploads, err := lister.ListMultipartUploads(ctx, before, s.cfg.BatchSize*s.cfg.MaxBatches)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			s.cfg.Logger.WarnContext(ctx, "listing multipart uploads failed; will retry", "backend", name, "err", err)
			continue
		}
		for _, u := range uploads {
			if u.Initiated.After(before) {
				continue // a backend that cannot filter by age
			}
			held, err := s.cfg.Store.HoldsMultipartUpload(ctx, name, u.UploadID)
			if err != nil {
				return fmt.Errorf("look up multipart upload %s of backend %s: %w", u.UploadID, name, err)
			}
			if held {
				continue
			}
			aborted, err := s.abortMultipart(ctx, s.cfg.Multipart[name], name, u.Key, u.UploadID, reasonOrphan, c)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				s.cfg.Logger.WarnContext(ctx, "aborting an orphaned multipart upload failed; will retry",
					"backend", name, "upload_id", u.UploadID, "err", err)
				continue
			}
			if aborted {
				c.Orphans++
				s.cfg.Logger.InfoContext(ctx, "aborted a multipart upload no record knew", "backend", name,
					"upload_id", u.UploadID, "initiated", u.Initiated)
			}
		}
	}
	return nil
}
