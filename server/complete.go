package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/store"
)

// CompletePending completes f, a PENDING upload of any tenant, without its
// client: it verifies the object with the checks CompleteUpload makes
// (size, content type, checksum; for a multipart upload, every part held
// with its exact size, then joined by the backend) and records the file
// READY, or FAILED with the reason when the object fails them, with by (a
// store.CompletedBy constant) as its CompletedBy.
//
// When the bytes have not all arrived (no object, or a part of a multipart
// upload never uploaded) nothing changes and f is returned as it is,
// PENDING: the caller tells "not there yet" by the state. A file that is
// not PENDING, or that left PENDING meanwhile, is returned as it now is.
// changed reports whether this call moved the file out of PENDING: of
// several callers racing on one upload (replicas' sweepers, a
// notification and the sweeper), only the one whose transition the
// store recorded is told it did.
// Storage notifications, the sweeper and the local backend's commit hook
// complete uploads through it.
func (s *Server) CompletePending(ctx context.Context, f *store.File, by string) (done *store.File, changed bool, err error) {
	if f.State != store.StatePending {
		return f, false, nil
	}
	backend, err := s.backendOf(f)
	if err != nil {
		return nil, false, err
	}
	var (
		info   signer.ObjectInfo
		reason string
	)
	if f.MultipartUploadID != "" {
		arrived, err := s.allPartsHeld(ctx, f)
		if err != nil {
			return nil, false, err
		}
		if !arrived {
			return f, false, nil
		}
		info, reason, err = s.completeMultipart(ctx, f, nil)
		if err != nil {
			return nil, false, err
		}
	} else {
		info, err = backend.Stat(ctx, f.Key)
		switch {
		case errors.Is(err, signer.ErrNotFound):
			return f, false, nil
		case err != nil:
			return nil, false, fmt.Errorf("stat %s: %w", f.Key, err)
		}
		reason = mismatch(f, info)
	}
	return s.finishUpload(ctx, f, backend, info, reason, by, s.now().UTC())
}

// allPartsHeld reports whether the backend holds every part of f's
// multipart upload (whatever their sizes: completeMultipart judges them),
// or no longer knows the upload (it was completed, and completeMultipart
// stats the object it made).
func (s *Server) allPartsHeld(ctx context.Context, f *store.File) (bool, error) {
	mp, err := s.multipartOf(f)
	if err != nil {
		return false, err
	}
	held, err := mp.ListParts(ctx, f.Key, f.MultipartUploadID)
	switch {
	case errors.Is(err, signer.ErrNotFound):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("list parts on backend %q: %w", f.Backend, err)
	}
	have := make(map[int]bool, len(held))
	for _, p := range held {
		have[p.PartNumber] = true
	}
	for n := 1; n <= partCount(f.SizeBytes, f.PartSize); n++ {
		if !have[n] {
			return false, nil
		}
	}
	return true, nil
}

// UploadCommitted returns the hook a backend that stores the bytes itself
// (the local backend) calls when an upload to it has committed its
// object at key: the PENDING upload of that object is completed at once
// with CompletePending (completed by "upload") when its category says
// CompleteOnUpload. It returns nil when no category on backend does, so
// that uploads there cost no lookup. The hook never fails the upload: an
// error is logged, and the upload stays PENDING for CompleteUpload or
// the sweeper.
func (s *Server) UploadCommitted(backend string) func(ctx context.Context, key string) {
	enabled := false
	for _, c := range s.categories {
		enabled = enabled || (c.Backend == backend && c.CompleteOnUpload)
	}
	if !enabled {
		return nil
	}
	return func(ctx context.Context, key string) {
		f, err := s.store.PendingFileByKey(ctx, backend, key)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return
		case err != nil:
			s.log.WarnContext(ctx, "complete on upload: find the upload", "backend", backend, "key", key, "err", err)
			return
		}
		if c, ok := s.categories[f.Category]; !ok || !c.CompleteOnUpload {
			return
		}
		done, _, err := s.CompletePending(ctx, f, store.CompletedByUpload)
		if err != nil {
			s.log.WarnContext(ctx, "complete on upload", "tenant", f.Tenant, "file_id", f.ID, "err", err)
			return
		}
		s.log.DebugContext(ctx, "upload completed as its bytes landed", "tenant", f.Tenant, "file_id", f.ID, "state", done.State)
	}
}
