package azure

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"

	"github.com/presignd/presignd/signer"
)

// ReadObject returns the bytes of the blob at key from offset on, at most
// length bytes when length >= 0, to the end when length < 0 (signer.
// ObjectReader). An offset at or past the end gives an empty body. A missing
// blob is signer.ErrNotFound; an invalid key signer.ErrInvalidKey; offset < 0
// an error wrapping signer.ErrUnsupported.
func (s *Signer) ReadObject(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if err := signer.ValidateKey(key); err != nil {
		return nil, fmt.Errorf("azure: read: %w", err)
	}
	if offset < 0 {
		return nil, fmt.Errorf("azure: read %s: offset %d: %w", key, offset, signer.ErrUnsupported)
	}
	if length == 0 {
		// Azure has no empty range; check the blob exists.
		if _, err := s.client.NewBlobClient(key).GetProperties(ctx, nil); err != nil {
			return nil, s.fail(ctx, "read", key, err)
		}
		return io.NopCloser(eofReader{}), nil
	}
	r := blob.HTTPRange{Offset: offset}
	if length > 0 {
		r.Count = length
	}
	resp, err := s.client.NewBlobClient(key).DownloadStream(ctx, &blob.DownloadStreamOptions{Range: r})
	if err != nil {
		if bloberror.HasCode(err, bloberror.InvalidRange) {
			// The offset is at or past the end; tell a missing blob apart.
			if _, perr := s.client.NewBlobClient(key).GetProperties(ctx, nil); perr != nil {
				return nil, s.fail(ctx, "read", key, perr)
			}
			return io.NopCloser(eofReader{}), nil
		}
		return nil, s.fail(ctx, "read", key, err)
	}
	return resp.Body, nil
}

// eofReader is an empty body.
type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// WriteObject stores exactly size bytes from r at key with contentType,
// replacing any blob there (signer.ObjectWriter). The bytes are staged as
// blocks and committed in one Put Block List, so the blob appears whole or
// not at all: r yielding more or fewer than size bytes is an error and
// commits nothing. An invalid key is signer.ErrInvalidKey.
func (s *Signer) WriteObject(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	if err := signer.ValidateKey(key); err != nil {
		return fmt.Errorf("azure: write: %w", err)
	}
	if size < 0 {
		return fmt.Errorf("azure: write %s: size %d is negative", key, size)
	}
	if err := checkHeaderValue("contentType", contentType); err != nil {
		return fmt.Errorf("azure: write %s: %w", key, err)
	}
	opts := &blockblob.UploadStreamOptions{}
	if contentType != "" {
		opts.HTTPHeaders = &blob.HTTPHeaders{BlobContentType: to.Ptr(contentType)}
	}
	er := &exactReader{r: r, left: size}
	if _, err := s.client.NewBlockBlobClient(key).UploadStream(ctx, er, opts); err != nil {
		if er.err != nil {
			return fmt.Errorf("azure: write %s: %w", key, er.err)
		}
		return s.fail(ctx, "write", key, err)
	}
	return nil
}

var errSizeMismatch = errors.New("the reader's length differs from the declared size")

// exactReader yields r's bytes, failing instead of ending when r yields
// more or fewer than left bytes, so that a caller that commits on EOF
// commits only exactly sized bodies.
type exactReader struct {
	r    io.Reader
	left int64
	err  error
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	if e.left == 0 {
		// Anything more than size is an error; probe for it.
		var one [1]byte
		n, err := io.ReadFull(e.r, one[:])
		if n > 0 {
			e.err = fmt.Errorf("%w: more than declared", errSizeMismatch)
			return 0, e.err
		}
		if err != nil && !errors.Is(err, io.EOF) {
			e.err = err
			return 0, err
		}
		return 0, io.EOF
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if errors.Is(err, io.EOF) {
		if e.left > 0 {
			e.err = fmt.Errorf("%w: %d bytes short", errSizeMismatch, e.left)
			return n, e.err
		}
		err = nil
	} else if err != nil {
		e.err = err
	}
	return n, err
}
