package signer

import (
	"context"
	"errors"
	"time"
)

// ErrInvalidPart: a part named at completion is not held by the backend,
// or is held with another ETag or checksum, or a part (other than the
// last) is smaller than the backend's minimum. The wrapping error names
// the part.
var ErrInvalidPart = errors.New("signer: invalid part")

// PartLimits are a backend's rules for the parts of a multipart upload.
type PartLimits struct {
	// MinPartSize is the smallest size of every part but the last.
	MinPartSize int64
	// MaxPartSize is the largest size of any part.
	MaxPartSize int64
	// MaxParts is the largest part number.
	MaxParts int
	// MaxObjectSize is the largest object a multipart upload can make.
	MaxObjectSize int64
	// PartsWithoutETag: the backend answers a part's PUT without an ETag
	// and ListParts reports none (Azure Blob), so a completion names its
	// parts by number alone.
	PartsWithoutETag bool
}

// PartRequest is what one part target must bind.
type PartRequest struct {
	Key      string
	UploadID string
	// PartNumber is from 1 to the backend's MaxParts.
	PartNumber int
	// Size is the exact size of the part; backends that can bind
	// Content-Length do.
	Size int64
	// Checksum, when set, is the part's checksum: the backend refuses a
	// part whose bytes do not match it. Its algorithm is the one the
	// upload was created with.
	Checksum Checksum
	// Expires is when the target stops working.
	Expires time.Time
}

// Part is a part the backend holds.
type Part struct {
	PartNumber int
	Size       int64
	ETag       string
	// Checksum is the part's checksum in the upload's part checksum
	// algorithm, when the backend keeps one; zero otherwise.
	Checksum Checksum
}

// MultipartUploader is an optional capability of a backend that takes an
// object in parts: each part is PUT to its own signed target, in any
// order and in parallel, a part sent again replaces the earlier one, and
// the backend joins the parts into the object on completion. Until then
// no object exists at the key.
type MultipartUploader interface {
	// PartLimits returns the backend's rules for parts.
	PartLimits() PartLimits
	// CreateMultipart starts a multipart upload of req.Key and returns
	// the backend's upload id. The object it makes is stored with
	// req.ContentType and req.ContentDisposition. req.Checksum.Algorithm,
	// when set (SHA256 or CRC32C), is the checksum every part must carry;
	// its Value is ignored. Size, MaxSize and Expires are advisory.
	CreateMultipart(ctx context.Context, req UploadRequest) (uploadID string, err error)
	// SignPart returns a PUT target (Method "PUT", URL, Headers) for one
	// part. It does no I/O: signing a thousand parts is cheap.
	SignPart(ctx context.Context, req PartRequest) (UploadTarget, error)
	// ListParts returns the parts the backend holds for the upload, by
	// ascending part number. An upload that is unknown, completed or
	// aborted is ErrNotFound.
	ListParts(ctx context.Context, key, uploadID string) ([]Part, error)
	// CompleteMultipart joins parts, given by ascending part number, into
	// the object at key. Only PartNumber, ETag and (when bound) Checksum
	// of each part are used. A part the backend does not hold or holds
	// differently is ErrInvalidPart; an unknown upload is ErrNotFound.
	// Completing an upload that the backend has already completed with
	// the same parts is not an error where the backend can tell.
	CompleteMultipart(ctx context.Context, key, uploadID string, parts []Part) error
	// AbortMultipart discards the upload and every part it holds; an
	// unknown, completed or aborted upload is not an error.
	AbortMultipart(ctx context.Context, key, uploadID string) error
}

// PendingMultipart is a multipart upload a backend holds.
type PendingMultipart struct {
	Key       string
	UploadID  string
	Initiated time.Time
}

// MultipartLister is an optional capability of a MultipartUploader that
// lists the multipart uploads it holds, so that a sweeper can abort those
// no record knows (a crash between CreateMultipart and the record's
// write leaves one behind).
type MultipartLister interface {
	// ListMultipartUploads returns up to limit uploads initiated before
	// initiatedBefore, oldest first where the backend can tell.
	ListMultipartUploads(ctx context.Context, initiatedBefore time.Time, limit int) ([]PendingMultipart, error)
}
