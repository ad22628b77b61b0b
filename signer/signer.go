// Package signer defines what presignd needs from an object-storage backend:
// signed upload and download targets, and a look at (or removal of) a stored
// object. Drivers live in sub-packages (local, s3, gcs) and are proven by the
// shared conformance suite in signertest.
//
// A Signer works on plain Go values; it knows nothing of tenants, policies or
// the gRPC API. Keys it receives were built and checked by the caller, but
// every driver still refuses a key that ValidateKey rejects.
//
// Signer is the contract every driver meets. What only some drivers can
// do is an optional capability, a small interface of its own, and
// Capabilities lists them all (PostPolicySigner, LeftoverRemover,
// MultipartUploader, MultipartLister, ObjectReader, ObjectWriter,
// io.Closer). The wiring calls CapabilitiesOf once per backend and hands
// each part the capabilities it uses, as possibly nil fields; no other
// code asks a signer what it can do. A signer that wraps another has only
// the capabilities it implements itself. The capabilities test pins which
// ones each driver has.
package signer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Sentinel errors returned (wrapped) by drivers.
var (
	// ErrNotFound: the object does not exist.
	ErrNotFound = errors.New("signer: object not found")
	// ErrInvalidKey: the key is empty, too long, absolute, contains a ".."
	// segment, a control character or invalid UTF-8.
	ErrInvalidKey = errors.New("signer: invalid object key")
	// ErrUnsupported: the backend cannot do what was asked (for example a
	// checksum algorithm or an upload method it has no way to bind).
	ErrUnsupported = errors.New("signer: unsupported by this backend")
	// ErrUnavailable: the backend could not be reached, or answered that it
	// is failing or overloaded; the same call may succeed later.
	ErrUnavailable = errors.New("signer: backend unavailable")
)

// Checksum algorithms, named as in the API.
const (
	SHA256 = "SHA256"
	MD5    = "MD5"
	CRC32C = "CRC32C"
)

// Checksum is a digest of an object's bytes, base64 (standard, padded).
type Checksum struct {
	Algorithm string // SHA256, MD5 or CRC32C; empty for none
	Value     string
}

// IsZero reports whether no checksum is set.
func (c Checksum) IsZero() bool { return c.Algorithm == "" }

// UploadRequest is what an upload target must bind.
type UploadRequest struct {
	// Key is the object key.
	Key string
	// ContentType the client must send; the target refuses another.
	ContentType string
	// Size is the exact size the client declared. Backends that can bind an
	// exact Content-Length may do so; all verify it again in Stat.
	Size int64
	// MaxSize is the largest body the target accepts; POST policies and the
	// local backend enforce it while receiving. A request with Size 0 (no
	// size declared) relies on it: GCS then binds it on a PUT too, and a
	// backend that cannot bind it on a PUT (S3) needs a POST.
	MaxSize int64
	// Checksum, when set, must be verified by the backend on upload.
	Checksum Checksum
	// ContentDisposition, when set, is stored with the object; the target's
	// headers or form fields carry it.
	ContentDisposition string
	// Expires is when the target stops working.
	Expires time.Time
}

// UploadTarget tells a client how to send bytes.
type UploadTarget struct {
	Method string // "PUT" or "POST"
	URL    string
	// Headers the client must send with a PUT, exactly as given.
	Headers map[string]string
	// FormFields the client must send, before the file, in a POST.
	FormFields map[string]string
	Expires    time.Time
}

// DownloadRequest is what a download URL must bind.
type DownloadRequest struct {
	Key string
	// ResponseContentDisposition and ResponseContentType, when set, are
	// returned by the backend instead of the stored values.
	ResponseContentDisposition string
	ResponseContentType        string
	Expires                    time.Time
}

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Size        int64
	ContentType string
	ETag        string
	// Checksums the backend knows for the object, by algorithm, base64.
	// A backend reports those it has; callers compare what is present.
	Checksums map[string]string
	Modified  time.Time
}

// Signer is a storage backend. Implementations are safe for concurrent use.
type Signer interface {
	// SignUpload returns a PUT target for req.
	SignUpload(ctx context.Context, req UploadRequest) (UploadTarget, error)
	// SignDownload returns a GET URL for req.
	SignDownload(ctx context.Context, req DownloadRequest) (string, error)
	// Stat describes the object at key, or returns ErrNotFound.
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// Delete removes the object at key; a missing object is not an error.
	// A backend that can also spends the upload targets and download URLs
	// signed for key before the call (the local backend answers them with
	// 410); S3 and GCS cannot, and a target used again stores its bytes.
	Delete(ctx context.Context, key string) error
	// StorageURI names the object at key, such as s3://bucket/key.
	StorageURI(key string) string
}

// MaxKeyLength is the longest key any driver accepts, in bytes.
const MaxKeyLength = 1024

// ValidateKey reports whether key is safe to use on every backend: relative,
// clean (no empty, "." or ".." segments, no backslashes), valid UTF-8 without
// control characters, and at most MaxKeyLength bytes. The error wraps
// ErrInvalidKey.
func ValidateKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	case len(key) > MaxKeyLength:
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidKey, MaxKeyLength)
	case !utf8.ValidString(key):
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalidKey)
	case strings.HasPrefix(key, "/"):
		return fmt.Errorf("%w: absolute", ErrInvalidKey)
	case strings.ContainsRune(key, '\\'):
		return fmt.Errorf("%w: contains a backslash", ErrInvalidKey)
	}
	for _, r := range key {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: contains a control character", ErrInvalidKey)
		}
	}
	for _, seg := range strings.Split(key, "/") {
		switch seg {
		case "", ".", "..":
			return fmt.Errorf("%w: empty, \".\" or \"..\" path segment", ErrInvalidKey)
		}
	}
	return nil
}
