package server

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	presigndv1 "github.com/presignd/presignd/gen/presignd/v1"
	"github.com/presignd/presignd/internal/bytesize"
	"github.com/presignd/presignd/policy"
	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/store"
)

const (
	// firstPartTargets is how many part targets CreateUpload signs.
	firstPartTargets = 10
	// defaultMaxParts is the part count limit of a backend that names none.
	defaultMaxParts = 10000
	mib             = 1 << 20
)

// errWrongState: the file is not in the state the call needs (a
// FailedPrecondition); the publicError wrapping it says which.
var errWrongState = errors.New("file is not in the state the call needs")

// partLayout chooses the part size of a multipart upload of size bytes:
// the largest of the category's part size, the backend's minimum and what
// keeps the part count within the backend's maximum (rounded up to a MiB).
// It returns a field error when no part size within the backend's maximum
// does, or the object is larger than the backend allows.
func partLayout(size, want int64, lim signer.PartLimits) (partSize int64, count int, err error) {
	maxParts := int64(lim.MaxParts)
	if maxParts <= 0 {
		maxParts = defaultMaxParts
	}
	if want <= 0 {
		want = policy.DefaultPartSize
	}
	partSize = max(want, lim.MinPartSize)
	if need := (size + maxParts - 1) / maxParts; need > partSize {
		partSize = (need + mib - 1) / mib * mib
	}
	if lim.MaxObjectSize > 0 && size > lim.MaxObjectSize {
		return 0, 0, fieldError("size_bytes", fmt.Sprintf("%s is more than the %s the backend takes in a multipart upload",
			bytesize.Describe(size), bytesize.Describe(lim.MaxObjectSize)))
	}
	if lim.MaxPartSize > 0 && partSize > lim.MaxPartSize {
		return 0, 0, fieldError("size_bytes", fmt.Sprintf("%s does not fit in %d parts of at most %s",
			bytesize.Describe(size), maxParts, bytesize.Describe(lim.MaxPartSize)))
	}
	return partSize, partCount(size, partSize), nil
}

// partCount is the number of parts of partSize bytes (the last one
// shorter) that size bytes make.
func partCount(size, partSize int64) int {
	if partSize <= 0 {
		return 0
	}
	return int((size + partSize - 1) / partSize)
}

// partSizeOf is the exact size of part n (from 1) of f.
func partSizeOf(f *store.File, n int) int64 {
	count := partCount(f.SizeBytes, f.PartSize)
	if n < count {
		return f.PartSize
	}
	return f.SizeBytes - int64(count-1)*f.PartSize
}

// multipartOf returns the multipart capability of f's backend.
func (s *Server) multipartOf(f *store.File) (signer.MultipartUploader, error) {
	if _, err := s.backendOf(f); err != nil {
		return nil, err
	}
	mp := s.backendCaps[f.Backend].Multipart
	if mp == nil {
		return nil, userError(signer.ErrUnsupported, "backend %q of file %s does not take multipart uploads", f.Backend, f.ID)
	}
	return mp, nil
}

// urlTTL is how long the targets of f's category stay valid.
func (s *Server) urlTTL(f *store.File) time.Duration {
	if cat, ok := s.categories[f.Category]; ok && cat.URLTTL > 0 {
		return cat.URLTTL
	}
	return 15 * time.Minute
}

// pendingMultipart returns nil when f is a PENDING multipart upload whose
// time has not run out, and a FailedPrecondition naming its state
// otherwise.
func (s *Server) pendingMultipart(f *store.File) error {
	switch {
	case f.MultipartUploadID == "":
		return userError(errWrongState, "file %s is not a multipart upload", f.ID)
	case f.State != store.StatePending:
		return userError(errWrongState, "file %s is %s, not a PENDING multipart upload", f.ID, f.State)
	case !f.UploadExpires.IsZero() && !s.now().Before(f.UploadExpires):
		return userError(errWrongState, "the multipart upload of file %s expired at %s", f.ID, f.UploadExpires.UTC().Format(time.RFC3339))
	}
	return nil
}

// startMultipart starts the multipart upload of f on its category's
// backend and returns the backend's upload id. A part checksum the
// backend cannot bind is a field error.
func (s *Server) startMultipart(ctx context.Context, f *store.File, cat *policy.Category) (string, error) {
	req := signer.UploadRequest{
		Key:         f.Key,
		ContentType: f.ContentType,
		Size:        f.SizeBytes,
		MaxSize:     f.SizeBytes,
		Checksum:    signer.Checksum{Algorithm: f.PartChecksumAlgorithm},
		Expires:     f.UploadExpires,
	}
	if cat.ContentDisposition != "" {
		req.ContentDisposition = policy.ContentDisposition(cat.ContentDisposition, f.Filename)
	}
	uploadID, err := s.backendCaps[cat.Backend].Multipart.CreateMultipart(ctx, req)
	switch {
	case errors.Is(err, signer.ErrUnsupported) && f.PartChecksumAlgorithm != "":
		return "", fieldError("part_checksum_algorithm", fmt.Sprintf("backend %q cannot bind %s part checksums", cat.Backend, f.PartChecksumAlgorithm))
	case err != nil:
		return "", fmt.Errorf("create multipart upload on backend %q: %w", cat.Backend, err)
	}
	return uploadID, nil
}

// abortUnrecorded gives up the multipart upload of f, whose record could
// not be written: nothing refers to it. If this fails too, the sweeper's
// orphan check aborts it.
func (s *Server) abortUnrecorded(ctx context.Context, f *store.File) {
	mp := s.backendCaps[f.Backend].Multipart
	if err := mp.AbortMultipart(context.WithoutCancel(ctx), f.Key, f.MultipartUploadID); err != nil {
		s.log.WarnContext(ctx, "abort the multipart upload of an unrecorded file", "key", f.Key, "err", err)
	}
}

// multipartTarget is the upload target of f, a PENDING multipart upload:
// its layout and its first part targets (none when parts bind checksums).
func (s *Server) multipartTarget(ctx context.Context, f *store.File, cat *policy.Category) (*presigndv1.UploadTarget, error) {
	t := &presigndv1.UploadTarget{
		Method:       presigndv1.UploadMethod_UPLOAD_METHOD_MULTIPART,
		Multipart:    s.layoutToProto(f),
		ExpireTime:   timestamp(f.UploadExpires),
		MaxSizeBytes: cat.MaxSize,
	}
	if f.PartChecksumAlgorithm != "" {
		return t, nil
	}
	n := min(firstPartTargets, partCount(f.SizeBytes, f.PartSize))
	numbers := make([]int32, n)
	for i := range numbers {
		numbers[i] = int32(i + 1)
	}
	parts, err := s.signParts(ctx, f, numbers, nil)
	if err != nil {
		return nil, err
	}
	t.Parts = parts
	return t, nil
}

// signParts signs the targets of parts numbers of f, each binding its
// exact size and, when f binds part checksums, checksums[number].
func (s *Server) signParts(ctx context.Context, f *store.File, numbers []int32, checksums map[int32]string) ([]*presigndv1.PartTarget, error) {
	mp, err := s.multipartOf(f)
	if err != nil {
		return nil, err
	}
	expires := s.now().Add(s.urlTTL(f))
	if !f.UploadExpires.IsZero() && f.UploadExpires.Before(expires) {
		expires = f.UploadExpires
	}
	out := make([]*presigndv1.PartTarget, len(numbers))
	sharedExpiry := timestamp(expires)
	for i, n := range numbers {
		req := signer.PartRequest{
			Key:        f.Key,
			UploadID:   f.MultipartUploadID,
			PartNumber: int(n),
			Size:       partSizeOf(f, int(n)),
			Expires:    expires,
		}
		if f.PartChecksumAlgorithm != "" {
			req.Checksum = signer.Checksum{Algorithm: f.PartChecksumAlgorithm, Value: checksums[n]}
		}
		t, err := mp.SignPart(ctx, req)
		if err != nil {
			return nil, fmt.Errorf("sign part %d on backend %q: %w", n, f.Backend, err)
		}
		ts := sharedExpiry
		switch {
		case t.Expires.IsZero():
			t.Expires = expires
		case !t.Expires.Equal(expires):
			ts = nil
		}
		out[i] = partTargetToProto(int(n), req.Size, t, ts)
	}
	return out, nil
}

// checkPartChecksum checks that value is the standard base64 of a
// checksum in algorithm; field names the value in errors.
func checkPartChecksum(field, algorithm, value string) *policy.FieldError {
	raw, err := base64.StdEncoding.DecodeString(value)
	if err != nil {
		return &policy.FieldError{Field: field, Description: "must be standard base64"}
	}
	if want := checksumSizes[algorithm]; len(raw) != want {
		return &policy.FieldError{Field: field, Description: fmt.Sprintf("a %s checksum is %d bytes, not %d", algorithm, want, len(raw))}
	}
	return nil
}

// SignParts implements presigndv1.FileServiceServer. It writes nothing.
func (s *Server) SignParts(ctx context.Context, req *presigndv1.SignPartsRequest) (*presigndv1.SignPartsResponse, error) {
	_, f, err := s.callerFile(ctx, req.GetFileId(), policy.ActionComplete)
	if err != nil {
		return nil, err
	}
	if err := s.pendingMultipart(f); err != nil {
		return nil, err
	}
	count := partCount(f.SizeBytes, f.PartSize)
	var errs policy.FieldErrors
	asked := make(map[int32]bool, len(req.GetPartNumbers()))
	for i, n := range req.GetPartNumbers() {
		switch {
		case n < 1 || int(n) > count:
			errs = append(errs, &policy.FieldError{Field: fmt.Sprintf("part_numbers[%d]", i), Description: fmt.Sprintf("part %d is not one of the upload's parts 1 to %d", n, count)})
		case asked[n]:
			errs = append(errs, &policy.FieldError{Field: fmt.Sprintf("part_numbers[%d]", i), Description: fmt.Sprintf("part %d is asked for twice", n)})
		}
		asked[n] = true
	}
	checksums := req.GetPartChecksums()
	if alg := f.PartChecksumAlgorithm; alg == "" {
		if len(checksums) > 0 {
			errs = append(errs, &policy.FieldError{Field: "part_checksums", Description: fmt.Sprintf("the upload of file %s binds no part checksums; send none", f.ID)})
		}
	} else {
		for i, n := range req.GetPartNumbers() {
			v, ok := checksums[n]
			field := fmt.Sprintf("part_checksums[%d]", n)
			switch {
			case !ok:
				errs = append(errs, &policy.FieldError{Field: field, Description: fmt.Sprintf("part %d (part_numbers[%d]) needs its %s checksum: the upload binds part checksums", n, i, alg)})
			default:
				if fe := checkPartChecksum(field, alg, v); fe != nil {
					errs = append(errs, fe)
				}
			}
		}
		for _, n := range sortedPartNumbers(checksums) {
			if !asked[n] {
				errs = append(errs, &policy.FieldError{Field: fmt.Sprintf("part_checksums[%d]", n), Description: fmt.Sprintf("part %d is not in part_numbers", n)})
			}
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	parts, err := s.signParts(ctx, f, req.GetPartNumbers(), checksums)
	if err != nil {
		return nil, err
	}
	return &presigndv1.SignPartsResponse{Parts: parts}, nil
}

func sortedPartNumbers(m map[int32]string) []int32 {
	out := make([]int32, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// ListParts implements presigndv1.FileServiceServer.
func (s *Server) ListParts(ctx context.Context, req *presigndv1.ListPartsRequest) (*presigndv1.ListPartsResponse, error) {
	_, f, err := s.callerFile(ctx, req.GetFileId(), policy.ActionComplete)
	if err != nil {
		return nil, err
	}
	if err := s.pendingMultipart(f); err != nil {
		return nil, err
	}
	mp, err := s.multipartOf(f)
	if err != nil {
		return nil, err
	}
	held, err := mp.ListParts(ctx, f.Key, f.MultipartUploadID)
	if errors.Is(err, signer.ErrNotFound) {
		return nil, userError(errWrongState, "backend %q no longer holds the multipart upload of file %s; complete the upload to settle it", f.Backend, f.ID)
	}
	if err != nil {
		return nil, fmt.Errorf("list parts on backend %q: %w", f.Backend, err)
	}
	resp := &presigndv1.ListPartsResponse{Multipart: s.layoutToProto(f), Parts: make([]*presigndv1.Part, len(held))}
	for i, p := range held {
		resp.Parts[i] = &presigndv1.Part{PartNumber: int32(p.PartNumber), SizeBytes: p.Size, Etag: p.ETag, Checksum: p.Checksum.Value}
	}
	return resp, nil
}

// AbortUpload implements presigndv1.FileServiceServer.
func (s *Server) AbortUpload(ctx context.Context, req *presigndv1.AbortUploadRequest) (*presigndv1.AbortUploadResponse, error) {
	p, f, err := s.callerFile(ctx, req.GetFileId(), policy.ActionComplete)
	if err != nil {
		return nil, err
	}
	switch f.State {
	case store.StateAborted:
		return &presigndv1.AbortUploadResponse{File: s.fileToProto(f)}, nil
	case store.StatePending:
	default:
		return nil, userError(errWrongState, "file %s is %s: only a PENDING upload can be aborted", f.ID, f.State)
	}
	now := s.now().UTC()
	// Watched first: the sweeper removes what a still valid target stores
	// after the abort.
	if err := s.watchKey(ctx, f, now); err != nil {
		return nil, err
	}
	// The record and the queued deletion (which a sweeper retries) in one
	// transaction, then the backend at once.
	updated, err := s.store.AbortUpload(ctx, p.Tenant, f.ID, now, now.Add(retryQueuedDeleteAfter))
	if errors.Is(err, store.ErrConflict) {
		// Completed, failed or expired meanwhile.
		if cur, getErr := s.store.GetFile(ctx, p.Tenant, f.ID); getErr == nil {
			return nil, userError(errWrongState, "file %s is %s: only a PENDING upload can be aborted", f.ID, cur.State)
		}
	}
	if err != nil {
		return nil, err
	}
	if updated.CompletedAt.Equal(store.KeepTime(now)) {
		// This call aborted it (not a concurrent one).
		s.metrics.uploadEntered(updated.State)
		s.discardUpload(ctx, f)
	}
	return &presigndv1.AbortUploadResponse{File: s.fileToProto(updated)}, nil
}

// discardUpload gives up on the backend what f's upload stored: the parts
// of its multipart upload, and the object an upload (or a completion
// racing with this call) made. Failures are logged: a deletion queued
// with the record's change (AbortUpload), the sweeper's orphan check (a
// multipart upload no PENDING record holds) or the watched key retries
// them.
func (s *Server) discardUpload(ctx context.Context, f *store.File) {
	ctx = context.WithoutCancel(ctx)
	backend, err := s.backendOf(f)
	if err != nil {
		s.log.WarnContext(ctx, "upload left to the sweeper", "file_id", f.ID, "err", err)
		return
	}
	if f.MultipartUploadID != "" {
		if mp := s.backendCaps[f.Backend].Multipart; mp != nil {
			if err := mp.AbortMultipart(ctx, f.Key, f.MultipartUploadID); err != nil {
				s.log.WarnContext(ctx, "abort multipart upload left to the sweeper", "file_id", f.ID, "err", err)
			}
		}
	}
	if err := backend.Delete(ctx, f.Key); err != nil {
		s.log.WarnContext(ctx, "object of an aborted upload left to the sweeper", "file_id", f.ID, "err", err)
	}
}

// completeMultipart completes f's multipart upload on its backend with
// parts (empty: those the backend holds) and returns what the stored
// object is, or why the upload fails: a missing part, a part of the wrong
// size or one the backend refuses fails it. A backend that no longer
// knows the upload (an earlier call completed it, then failed before the
// record changed) leads to the object's Stat as well.
func (s *Server) completeMultipart(ctx context.Context, f *store.File, parts []*presigndv1.CompletedPart) (info signer.ObjectInfo, reason string, err error) {
	mp, err := s.multipartOf(f)
	if err != nil {
		return info, "", err
	}
	count := partCount(f.SizeBytes, f.PartSize)
	var errs policy.FieldErrors
	for i, cp := range parts {
		n := cp.GetPartNumber()
		field := fmt.Sprintf("parts[%d].part_number", i)
		switch {
		case n < 1 || int(n) > count:
			errs = append(errs, &policy.FieldError{Field: field, Description: fmt.Sprintf("part %d is not one of the upload's parts 1 to %d", n, count)})
		case i > 0 && n <= parts[i-1].GetPartNumber():
			errs = append(errs, &policy.FieldError{Field: field, Description: fmt.Sprintf("parts must be in ascending order of part number, each once: part %d follows part %d", n, parts[i-1].GetPartNumber())})
		}
		if c := cp.GetChecksum(); c != "" {
			if f.PartChecksumAlgorithm == "" {
				errs = append(errs, &policy.FieldError{Field: fmt.Sprintf("parts[%d].checksum", i), Description: "the upload binds no part checksums; send none"})
			} else if fe := checkPartChecksum(fmt.Sprintf("parts[%d].checksum", i), f.PartChecksumAlgorithm, c); fe != nil {
				errs = append(errs, fe)
			}
		}
	}
	if len(errs) > 0 {
		return info, "", errs
	}
	held, err := mp.ListParts(ctx, f.Key, f.MultipartUploadID)
	switch {
	case errors.Is(err, signer.ErrNotFound):
		return s.statCompleted(ctx, f)
	case err != nil:
		return info, "", fmt.Errorf("list parts on backend %q: %w", f.Backend, err)
	}
	byNumber := make(map[int]signer.Part, len(held))
	for _, p := range held {
		byNumber[p.PartNumber] = p
	}
	complete := make([]signer.Part, 0, count)
	if len(parts) == 0 {
		complete = append(complete, held...)
	} else {
		for _, cp := range parts {
			p := signer.Part{PartNumber: int(cp.GetPartNumber()), ETag: cp.GetEtag()}
			if cp.GetChecksum() != "" {
				p.Checksum = signer.Checksum{Algorithm: f.PartChecksumAlgorithm, Value: cp.GetChecksum()}
			}
			h, ok := byNumber[p.PartNumber]
			if ok {
				p.Size = h.Size
				if p.Checksum.IsZero() {
					p.Checksum = h.Checksum
				}
			}
			complete = append(complete, p)
		}
	}
	// Every part, each of its exact size.
	given := make(map[int]signer.Part, len(complete))
	for _, p := range complete {
		given[p.PartNumber] = p
	}
	for n := 1; n <= count; n++ {
		p, ok := given[n]
		h, isHeld := byNumber[n]
		switch {
		case !isHeld:
			return info, fmt.Sprintf("part %d of %d was never uploaded", n, count), nil
		case !ok:
			return info, fmt.Sprintf("part %d of %d is missing from the parts completed", n, count), nil
		case h.Size != partSizeOf(f, n):
			return info, fmt.Sprintf("part %d of %d is %d bytes, %d were expected", n, count, h.Size, partSizeOf(f, n)), nil
		case p.ETag != "" && h.ETag != "" && unquote(p.ETag) != unquote(h.ETag):
			return info, fmt.Sprintf("part %d of %d: storage holds another version of it than the ETag given", n, count), nil
		}
	}
	switch err := mp.CompleteMultipart(ctx, f.Key, f.MultipartUploadID, complete); {
	case errors.Is(err, signer.ErrInvalidPart):
		return info, "storage refused the parts: " + strings.TrimPrefix(err.Error(), "signer: "), nil
	case errors.Is(err, signer.ErrNotFound):
	case err != nil:
		return info, "", fmt.Errorf("complete multipart upload on backend %q: %w", f.Backend, err)
	}
	return s.statCompleted(ctx, f)
}

// statCompleted describes the object a completed multipart upload of f
// made, or says why there is none. While the upload's time runs, a
// missing object is errNotUploaded, not a failure: a concurrent
// CompleteUpload may be joining the parts (the backend no longer lists
// the upload, and the object is not there yet), and failing the file
// would delete its object.
func (s *Server) statCompleted(ctx context.Context, f *store.File) (signer.ObjectInfo, string, error) {
	backend, err := s.backendOf(f)
	if err != nil {
		return signer.ObjectInfo{}, "", err
	}
	info, err := backend.Stat(ctx, f.Key)
	switch {
	case errors.Is(err, signer.ErrNotFound) && s.now().Before(f.UploadExpires):
		return info, "", userError(errNotUploaded, "the backend no longer holds the multipart upload of file %s and holds no object made of it yet; if another CompleteUpload is joining its parts, retry", f.ID)
	case errors.Is(err, signer.ErrNotFound):
		return info, "the backend no longer holds the multipart upload, and no object was made of it", nil
	case err != nil:
		return info, "", fmt.Errorf("stat %s: %w", f.Key, err)
	}
	return info, mismatch(f, info), nil
}

func unquote(etag string) string {
	return strings.TrimPrefix(strings.TrimSuffix(etag, `"`), `"`)
}
