package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/presignd/presignd/policy"
	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/store"
)

// sniffBufs hold the first bytes of objects being sniffed.
var sniffBufs = sync.Pool{New: func() any { b := make([]byte, policy.SniffLength); return &b }}

// sniff reads the first policy.SniffLength bytes of f's object (one ranged
// read) and judges them with cat.CheckContent against f's declared type.
// It returns the detected type and the reason the upload fails, "" when
// the bytes fit. An object that cannot be read is an error: the upload
// stays as it is, for a later completion.
func (s *Server) sniff(ctx context.Context, f *store.File, cat *policy.Category) (detected, reason string, err error) {
	r := s.backendCaps[f.Backend].Reader
	if r == nil {
		return "", "", fmt.Errorf("sniff %s: backend %q cannot read objects back: %w", f.Key, f.Backend, signer.ErrUnsupported)
	}
	rc, err := r.ReadObject(ctx, f.Key, 0, policy.SniffLength)
	if err != nil {
		return "", "", fmt.Errorf("sniff %s: %w", f.Key, err)
	}
	defer rc.Close()
	bp := sniffBufs.Get().(*[]byte)
	defer sniffBufs.Put(bp)
	n, err := io.ReadFull(rc, *bp)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return "", "", fmt.Errorf("sniff %s: read: %w", f.Key, err)
	}
	detected, reason = cat.CheckContent(f.ContentType, (*bp)[:n])
	if reason != "" {
		s.log.InfoContext(ctx, "upload refused by content sniffing", "tenant", f.Tenant, "file_id", f.ID,
			"declared", f.ContentType, "detected", detected)
	}
	return detected, reason, nil
}
