package s3

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/presignd/presignd/signer"
)

// S3's rules for multipart uploads.
const (
	MinPartSize   = 5 << 20
	MaxPartSize   = 5 << 30
	MaxParts      = 10000
	MaxObjectSize = 5 << 40
	// maxUploadIDLength bounds an upload id; S3's and MinIO's are a few
	// hundred bytes at most.
	maxUploadIDLength = 1024
)

var (
	_ signer.MultipartUploader = (*Signer)(nil)
	_ signer.MultipartLister   = (*Signer)(nil)
)

// PartLimits returns S3's rules: parts of 5 MiB to 5 GiB (the last may be
// smaller), at most 10,000 of them, objects up to 5 TiB.
func (s *Signer) PartLimits() signer.PartLimits {
	return signer.PartLimits{
		MinPartSize:   MinPartSize,
		MaxPartSize:   MaxPartSize,
		MaxParts:      MaxParts,
		MaxObjectSize: MaxObjectSize,
	}
}

// CreateMultipart starts a multipart upload with CreateMultipartUpload. The
// object it makes carries req.ContentType and req.ContentDisposition (each
// when set). req.Checksum.Algorithm SHA256 or CRC32C creates the upload with
// that ChecksumAlgorithm, so that S3 requires and verifies the checksum of
// every part (SignPart binds it); any other algorithm is refused with an
// error wrapping signer.ErrUnsupported before any request. A bad key wraps
// signer.ErrInvalidKey; an S3 that cannot be reached or fails wraps
// signer.ErrUnavailable.
func (s *Signer) CreateMultipart(ctx context.Context, req signer.UploadRequest) (string, error) {
	if err := signer.ValidateKey(req.Key); err != nil {
		return "", fmt.Errorf("s3: create multipart upload: %w", err)
	}
	if err := checkHeaderValue("ContentType", req.ContentType); err != nil {
		return "", fmt.Errorf("s3: create multipart upload %s: %w", req.Key, err)
	}
	if err := checkHeaderValue("ContentDisposition", req.ContentDisposition); err != nil {
		return "", fmt.Errorf("s3: create multipart upload %s: %w", req.Key, err)
	}
	in := &s3.CreateMultipartUploadInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(req.Key),
	}
	if req.ContentType != "" {
		in.ContentType = aws.String(req.ContentType)
	}
	if req.ContentDisposition != "" {
		in.ContentDisposition = aws.String(req.ContentDisposition)
	}
	switch req.Checksum.Algorithm {
	case "":
	case signer.SHA256:
		in.ChecksumAlgorithm = types.ChecksumAlgorithmSha256
	case signer.CRC32C:
		in.ChecksumAlgorithm = types.ChecksumAlgorithmCrc32c
	default:
		return "", fmt.Errorf("s3: create multipart upload %s: part checksum %q: %w", req.Key, req.Checksum.Algorithm, signer.ErrUnsupported)
	}
	out, err := s.client.CreateMultipartUpload(ctx, in)
	if err != nil {
		return "", fmt.Errorf("s3: create multipart upload %s: %w", req.Key, classify(ctx, err))
	}
	id := aws.ToString(out.UploadId)
	if err := checkUploadID(id); err != nil {
		return "", fmt.Errorf("s3: create multipart upload %s: S3 answered %w", req.Key, err)
	}
	return id, nil
}

// SignPart returns a presigned UploadPart target (PUT). It binds, as signed
// headers, Content-Length (when Size is positive: a body of another length
// is refused with 403) and the part's checksum when set
// (x-amz-checksum-sha256 or x-amz-checksum-crc32c: S3 refuses bytes that do
// not match it). The URL carries partNumber and uploadId, so a target for
// one part or upload cannot be used for another. It does no I/O.
//
// It fails with an error wrapping signer.ErrInvalidKey for a bad key,
// signer.ErrUnsupported for a checksum algorithm other than SHA256 or CRC32C
// or an expiry beyond MaxExpiry, and a plain error naming the field for a
// part number outside 1..MaxParts, a Size outside 0..MaxPartSize, an empty
// or malformed upload id, a checksum value of the wrong length, or an
// expiry not in the future.
func (s *Signer) SignPart(ctx context.Context, req signer.PartRequest) (signer.UploadTarget, error) {
	t := s.now().UTC()
	secs, err := checkPart(req, t)
	if err != nil {
		return signer.UploadTarget{}, err
	}
	if s.fast == nil {
		return s.sdkSignPart(ctx, req, t, secs)
	}
	return s.fast.signPart(ctx, req, t, secs)
}

// ListParts returns the parts S3 holds for the upload, by ascending part
// number, reading every page. ETags are without their quotes; Checksum is
// the part's SHA256 or CRC32C when the upload was created with one. An
// unknown, completed or aborted upload is an error wrapping
// signer.ErrNotFound.
func (s *Signer) ListParts(ctx context.Context, key, uploadID string) ([]signer.Part, error) {
	if err := checkMultipartTarget(key, uploadID); err != nil {
		return nil, fmt.Errorf("s3: list parts: %w", err)
	}
	var parts []signer.Part
	p := s3.NewListPartsPaginator(s.client, &s3.ListPartsInput{
		Bucket:   aws.String(s.bucket),
		Key:      aws.String(key),
		UploadId: aws.String(uploadID),
	}, func(o *s3.ListPartsPaginatorOptions) {
		o.StopOnDuplicateToken = true // a store that does not advance ends the listing
		if s.pageSize > 0 {
			o.Limit = s.pageSize
		}
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			if isNoSuchUpload(err) {
				return nil, fmt.Errorf("s3: list parts of %s upload %s: %w", key, uploadID, signer.ErrNotFound)
			}
			return nil, fmt.Errorf("s3: list parts of %s upload %s: %w", key, uploadID, classify(ctx, err))
		}
		for _, sp := range page.Parts {
			part := signer.Part{
				PartNumber: int(aws.ToInt32(sp.PartNumber)),
				Size:       aws.ToInt64(sp.Size),
				ETag:       strings.Trim(aws.ToString(sp.ETag), `"`),
			}
			switch {
			case aws.ToString(sp.ChecksumSHA256) != "":
				part.Checksum = signer.Checksum{Algorithm: signer.SHA256, Value: aws.ToString(sp.ChecksumSHA256)}
			case aws.ToString(sp.ChecksumCRC32C) != "":
				part.Checksum = signer.Checksum{Algorithm: signer.CRC32C, Value: aws.ToString(sp.ChecksumCRC32C)}
			}
			parts = append(parts, part)
		}
	}
	slices.SortFunc(parts, func(a, b signer.Part) int { return a.PartNumber - b.PartNumber })
	return parts, nil
}

// CompleteMultipart joins parts (ascending part numbers; PartNumber, ETag
// and, when set, Checksum of each) into the object at key with
// CompleteMultipartUpload. An upload created with a part checksum
// algorithm needs every part's checksum. A part S3 does not hold, holds
// with another ETag or checksum, given without the checksum the upload
// binds, or a part other than the last below MinPartSize, is an error
// wrapping signer.ErrInvalidPart that names the part (found by listing the
// parts S3 holds, since S3's answer does not). An unknown upload, and one
// already completed (S3 cannot tell which), is an error wrapping
// signer.ErrNotFound.
func (s *Signer) CompleteMultipart(ctx context.Context, key, uploadID string, parts []signer.Part) error {
	if err := checkMultipartTarget(key, uploadID); err != nil {
		return fmt.Errorf("s3: complete multipart upload: %w", err)
	}
	if len(parts) == 0 {
		return fmt.Errorf("s3: complete multipart upload %s: no parts: %w", key, signer.ErrInvalidPart)
	}
	if len(parts) > MaxParts {
		return fmt.Errorf("s3: complete multipart upload %s: %d parts, more than %d: %w", key, len(parts), MaxParts, signer.ErrInvalidPart)
	}
	completed := make([]types.CompletedPart, len(parts))
	for i, p := range parts {
		if p.PartNumber < 1 || p.PartNumber > MaxParts {
			return fmt.Errorf("s3: complete multipart upload %s: part number %d is not in 1..%d: %w", key, p.PartNumber, MaxParts, signer.ErrInvalidPart)
		}
		if i > 0 && p.PartNumber <= parts[i-1].PartNumber {
			return fmt.Errorf("s3: complete multipart upload %s: part %d follows part %d; parts must ascend: %w", key, p.PartNumber, parts[i-1].PartNumber, signer.ErrInvalidPart)
		}
		if p.ETag == "" {
			return fmt.Errorf("s3: complete multipart upload %s: part %d has no ETag: %w", key, p.PartNumber, signer.ErrInvalidPart)
		}
		c := types.CompletedPart{PartNumber: aws.Int32(int32(p.PartNumber)), ETag: aws.String(quoteETag(p.ETag))}
		switch p.Checksum.Algorithm {
		case "":
		case signer.SHA256:
			c.ChecksumSHA256 = aws.String(p.Checksum.Value)
		case signer.CRC32C:
			c.ChecksumCRC32C = aws.String(p.Checksum.Value)
		default:
			return fmt.Errorf("s3: complete multipart upload %s: part %d checksum %q: %w", key, p.PartNumber, p.Checksum.Algorithm, signer.ErrUnsupported)
		}
		completed[i] = c
	}
	_, err := s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          aws.String(s.bucket),
		Key:             aws.String(key),
		UploadId:        aws.String(uploadID),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: completed},
	})
	if err == nil {
		return nil
	}
	if isNoSuchUpload(err) {
		return fmt.Errorf("s3: complete multipart upload %s %s: %w", key, uploadID, signer.ErrNotFound)
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "InvalidPart", "InvalidPartOrder", "EntityTooSmall", "BadDigest", "InvalidDigest":
			return fmt.Errorf("s3: complete multipart upload %s: %s: %w (%s)", key, s.whichPart(ctx, key, uploadID, parts), signer.ErrInvalidPart, api.ErrorCode())
		}
	}
	return fmt.Errorf("s3: complete multipart upload %s: %w", key, classify(ctx, err))
}

// whichPart names the first of parts that S3 does not hold as given, for an
// error message: "part N was never uploaded", "part N has ETag ...", "part N
// is given without the SHA256 checksum the upload binds", "part N has
// another SHA256 checksum", "part N of M bytes is below the minimum part
// size", or "a part" when it cannot tell.
func (s *Signer) whichPart(ctx context.Context, key, uploadID string, parts []signer.Part) string {
	held, err := s.ListParts(ctx, key, uploadID)
	if err != nil {
		return "a part"
	}
	byNumber := make(map[int]signer.Part, len(held))
	for _, h := range held {
		byNumber[h.PartNumber] = h
	}
	for i, p := range parts {
		h, ok := byNumber[p.PartNumber]
		switch {
		case !ok:
			return fmt.Sprintf("part %d was never uploaded", p.PartNumber)
		case h.ETag != strings.Trim(p.ETag, `"`):
			return fmt.Sprintf("part %d has ETag %q, not %q", p.PartNumber, h.ETag, strings.Trim(p.ETag, `"`))
		case p.Checksum.IsZero() && !h.Checksum.IsZero():
			return fmt.Sprintf("part %d is given without the %s checksum the upload binds", p.PartNumber, h.Checksum.Algorithm)
		case !p.Checksum.IsZero() && p.Checksum != h.Checksum:
			return fmt.Sprintf("part %d has another %s checksum", p.PartNumber, p.Checksum.Algorithm)
		case i < len(parts)-1 && h.Size < MinPartSize:
			return fmt.Sprintf("part %d of %d bytes is below the minimum part size %d", p.PartNumber, h.Size, MinPartSize)
		}
	}
	return "a part"
}

// AbortMultipart discards the upload and its parts with
// AbortMultipartUpload. An unknown, completed or aborted upload is not an
// error. A bad key wraps signer.ErrInvalidKey; an S3 that cannot be reached
// or fails wraps signer.ErrUnavailable.
func (s *Signer) AbortMultipart(ctx context.Context, key, uploadID string) error {
	if err := checkMultipartTarget(key, uploadID); err != nil {
		return fmt.Errorf("s3: abort multipart upload: %w", err)
	}
	_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket:   aws.String(s.bucket),
		Key:      aws.String(key),
		UploadId: aws.String(uploadID),
	})
	if err != nil && !isNoSuchUpload(err) {
		return fmt.Errorf("s3: abort multipart upload %s %s: %w", key, uploadID, classify(ctx, err))
	}
	return nil
}

// ListMultipartUploads returns up to limit of the bucket's multipart
// uploads initiated before initiatedBefore, oldest first. S3 lists uploads
// by key, so it reads pages until it has limit of them (or the listing
// ends) and sorts what it has: with more than limit old uploads, the ones
// returned are old but not necessarily the oldest. A limit below 1 is an
// error. It lists every upload in the bucket, including those another
// application started there: a caller that aborts what it lists must only
// abort keys it owns.
func (s *Signer) ListMultipartUploads(ctx context.Context, initiatedBefore time.Time, limit int) ([]signer.PendingMultipart, error) {
	if limit < 1 {
		return nil, fmt.Errorf("s3: list multipart uploads: limit %d is not positive", limit)
	}
	var out []signer.PendingMultipart
	in := &s3.ListMultipartUploadsInput{Bucket: aws.String(s.bucket)}
	if s.pageSize > 0 {
		in.MaxUploads = aws.Int32(s.pageSize)
	}
	for {
		page, err := s.client.ListMultipartUploads(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("s3: list multipart uploads: %w", classify(ctx, err))
		}
		for _, u := range page.Uploads {
			initiated := aws.ToTime(u.Initiated)
			if !initiated.Before(initiatedBefore) {
				continue
			}
			out = append(out, signer.PendingMultipart{Key: aws.ToString(u.Key), UploadID: aws.ToString(u.UploadId), Initiated: initiated})
			if len(out) == limit {
				break
			}
		}
		if len(out) == limit || !aws.ToBool(page.IsTruncated) {
			break
		}
		next := &s3.ListMultipartUploadsInput{Bucket: in.Bucket, MaxUploads: in.MaxUploads, KeyMarker: page.NextKeyMarker, UploadIdMarker: page.NextUploadIdMarker}
		if aws.ToString(next.KeyMarker) == aws.ToString(in.KeyMarker) && aws.ToString(next.UploadIdMarker) == aws.ToString(in.UploadIdMarker) {
			return nil, errors.New("s3: list multipart uploads: the listing did not advance")
		}
		in = next
	}
	slices.SortStableFunc(out, func(a, b signer.PendingMultipart) int { return a.Initiated.Compare(b.Initiated) })
	return out, nil
}

// isNoSuchUpload reports whether err is S3's answer for an unknown upload.
func isNoSuchUpload(err error) bool {
	var nsu *types.NoSuchUpload
	if errors.As(err, &nsu) {
		return true
	}
	var api smithy.APIError
	return errors.As(err, &api) && api.ErrorCode() == "NoSuchUpload"
}

// quoteETag puts etag in the double quotes S3 writes around it.
func quoteETag(etag string) string {
	if strings.HasPrefix(etag, `"`) {
		return etag
	}
	return `"` + etag + `"`
}

// checkMultipartTarget validates a key and an upload id.
func checkMultipartTarget(key, uploadID string) error {
	if err := signer.ValidateKey(key); err != nil {
		return err
	}
	return checkUploadID(uploadID)
}

// checkUploadID accepts a non-empty upload id of printable ASCII, at most
// maxUploadIDLength bytes.
func checkUploadID(id string) error {
	if id == "" {
		return errors.New("field UploadID is empty")
	}
	if len(id) > maxUploadIDLength {
		return fmt.Errorf("field UploadID is longer than %d bytes", maxUploadIDLength)
	}
	if err := checkHeaderValue("UploadID", id); err != nil {
		return err
	}
	return nil
}

// checkPart validates req at signing time t and returns X-Amz-Expires.
func checkPart(req signer.PartRequest, t time.Time) (int64, error) {
	if err := signer.ValidateKey(req.Key); err != nil {
		return 0, fmt.Errorf("s3: sign part: %w", err)
	}
	if err := checkUploadID(req.UploadID); err != nil {
		return 0, fmt.Errorf("s3: sign part of %s: %w", req.Key, err)
	}
	if req.PartNumber < 1 || req.PartNumber > MaxParts {
		return 0, fmt.Errorf("s3: sign part of %s: field PartNumber %d is not in 1..%d", req.Key, req.PartNumber, MaxParts)
	}
	if req.Size < 0 || req.Size > MaxPartSize {
		return 0, fmt.Errorf("s3: sign part %d of %s: field Size %d is not in 0..%d", req.PartNumber, req.Key, req.Size, MaxPartSize)
	}
	if err := checkPartChecksum(req.Checksum); err != nil {
		return 0, fmt.Errorf("s3: sign part %d of %s: %w", req.PartNumber, req.Key, err)
	}
	secs, err := expirySeconds(req.Expires, t)
	if err != nil {
		return 0, fmt.Errorf("s3: sign part %d of %s: %w", req.PartNumber, req.Key, err)
	}
	return secs, nil
}

// checkPartChecksum accepts no checksum, or a SHA256 or CRC32C whose value
// is the standard base64 of a digest of the right length.
func checkPartChecksum(c signer.Checksum) error {
	var n int
	switch c.Algorithm {
	case "":
		return nil
	case signer.SHA256:
		n = 32
	case signer.CRC32C:
		n = 4
	default:
		return fmt.Errorf("part checksum algorithm %q: %w", c.Algorithm, signer.ErrUnsupported)
	}
	// Decoded into a buffer on the stack: this runs for every part target.
	var buf [33]byte
	if base64.StdEncoding.EncodedLen(n) == len(c.Value) {
		if m, err := base64.StdEncoding.Decode(buf[:], []byte(c.Value)); err == nil && m == n {
			return nil
		}
	}
	return fmt.Errorf("part checksum %s value %q is not the base64 of a %d-byte digest", c.Algorithm, c.Value, n)
}

// partHeaders returns the headers a client must send with a part.
func partHeaders(req signer.PartRequest) map[string]string {
	h := make(map[string]string, 2)
	if req.Size > 0 {
		h["Content-Length"] = strconv.FormatInt(req.Size, 10)
	}
	switch req.Checksum.Algorithm {
	case signer.SHA256:
		h["x-amz-checksum-sha256"] = req.Checksum.Value
	case signer.CRC32C:
		h["x-amz-checksum-crc32c"] = req.Checksum.Value
	}
	return h
}

// signPart is the fast presigner's UploadPart; req must have passed
// checkPart.
func (p *presigner) signPart(ctx context.Context, req signer.PartRequest, t time.Time, secs int64) (signer.UploadTarget, error) {
	creds, err := p.creds.Retrieve(ctx)
	if err != nil {
		return signer.UploadTarget{}, fmt.Errorf("s3: sign part %d of %s: credentials: %w", req.PartNumber, req.Key, err)
	}
	headers := partHeaders(req)
	// Sorted by name; host is inserted by presign.
	var hs [2]header
	h := hs[:0]
	if req.Size > 0 {
		h = append(h, header{"content-length", headers["Content-Length"]})
	}
	switch req.Checksum.Algorithm {
	case signer.CRC32C:
		h = append(h, header{"x-amz-checksum-crc32c", req.Checksum.Value})
	case signer.SHA256:
		h = append(h, header{"x-amz-checksum-sha256", req.Checksum.Value})
	}
	q := [2]header{{"partNumber", strconv.Itoa(req.PartNumber)}, {"uploadId", req.UploadID}}
	return signer.UploadTarget{
		Method:  http.MethodPut,
		URL:     p.presign(creds, http.MethodPut, req.Key, t, secs, h, q[:], "UploadPart"),
		Headers: headers,
		Expires: t.Truncate(time.Second).Add(time.Duration(secs) * time.Second),
	}, nil
}

// sdkSignPart presigns req's UploadPart with the SDK at time t: the
// reference the fast presigner is compared with, and the fallback when it
// is off. req must have passed checkPart.
func (s *Signer) sdkSignPart(ctx context.Context, req signer.PartRequest, t time.Time, secs int64) (signer.UploadTarget, error) {
	in := &s3.UploadPartInput{
		Bucket:     aws.String(s.bucket),
		Key:        aws.String(req.Key),
		PartNumber: aws.Int32(int32(req.PartNumber)),
		UploadId:   aws.String(req.UploadID),
	}
	if req.Size > 0 {
		in.ContentLength = aws.Int64(req.Size)
	}
	switch req.Checksum.Algorithm {
	case signer.SHA256:
		in.ChecksumSHA256 = aws.String(req.Checksum.Value)
	case signer.CRC32C:
		in.ChecksumCRC32C = aws.String(req.Checksum.Value)
	}
	out, err := s.presign.PresignUploadPart(ctx, in, withFixedTime(t, secs))
	if err != nil {
		return signer.UploadTarget{}, fmt.Errorf("s3: sign part %d of %s: %w", req.PartNumber, req.Key, err)
	}
	headers := partHeaders(req)
	if err := sameHeaders(headers, out.SignedHeader); err != nil {
		return signer.UploadTarget{}, fmt.Errorf("s3: sign part %d of %s: %w", req.PartNumber, req.Key, err)
	}
	return signer.UploadTarget{
		Method:  http.MethodPut,
		URL:     out.URL,
		Headers: headers,
		Expires: t.Truncate(time.Second).Add(time.Duration(secs) * time.Second),
	}, nil
}
