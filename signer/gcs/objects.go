package gcs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/signer/internal/exact"
)

var (
	_ signer.ObjectReader = (*Signer)(nil)
	_ signer.ObjectWriter = (*Signer)(nil)
)

// uploadBase is the JSON API's upload root for the API root api: the
// ".../storage/v1/" of api with "upload/" before it, or the origin's
// "/upload/storage/v1/" for an API root of another shape.
func uploadBase(api string) string {
	if strings.HasSuffix(api, "/storage/v1/") {
		return strings.TrimSuffix(api, "storage/v1/") + "upload/storage/v1/"
	}
	u, err := url.Parse(api)
	if err != nil {
		return api
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host}).String() + "/upload/storage/v1/"
}

// ReadObject returns the bytes of the object at key from offset on, at most
// length bytes when length >= 0: a JSON API media download (alt=media)
// with a Range header (none for a whole read). An offset at or past the end
// (GCS's 416) gives an empty body; a zero length asks for the object's
// resource (Stat) and gives an empty body. A missing object is
// signer.ErrNotFound, an invalid key signer.ErrInvalidKey, a negative
// offset signer.ErrUnsupported, GCS unreachable or failing transiently
// signer.ErrUnavailable. The download is not retried: the caller reads
// the body as it comes.
func (s *Signer) ReadObject(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if err := signer.ValidateKey(key); err != nil {
		return nil, fmt.Errorf("gcs: read: %w", err)
	}
	if offset < 0 {
		return nil, fmt.Errorf("gcs: read %s: offset %d: %w", key, offset, signer.ErrUnsupported)
	}
	if length == 0 {
		if _, err := s.Stat(ctx, key); err != nil {
			return nil, err
		}
		return http.NoBody, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.objects+escape(key, false)+"?alt=media", nil)
	if err != nil {
		return nil, fmt.Errorf("gcs: read %s: %w", key, err)
	}
	switch {
	case length > 0:
		req.Header.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-"+strconv.FormatInt(offset+length-1, 10))
	case offset > 0:
		req.Header.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
	}
	// The bytes as stored: no transcoding of gzip-encoded objects.
	req.Header.Set("Accept-Encoding", "gzip")
	if err := s.authorize(ctx, req); err != nil {
		return nil, fmt.Errorf("gcs: read %s: %w", key, err)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			err = fmt.Errorf("%w: %w", signer.ErrUnavailable, err)
		}
		return nil, fmt.Errorf("gcs: read %s: %w", key, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		if offset > 0 {
			// A server that ignores Range: skip to offset.
			if _, err := io.CopyN(io.Discard, resp.Body, offset); err != nil && !errors.Is(err, io.EOF) {
				resp.Body.Close()
				return nil, fmt.Errorf("gcs: read %s: %w", key, err)
			}
		}
		fallthrough
	case http.StatusPartialContent:
		if length > 0 {
			return struct {
				io.Reader
				io.Closer
			}{io.LimitReader(resp.Body, length), resp.Body}, nil
		}
		return resp.Body, nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, fmt.Errorf("gcs: read %s: %w", key, signer.ErrNotFound)
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		return http.NoBody, nil
	case retryable(ctx, resp.StatusCode, nil):
		return nil, fmt.Errorf("gcs: read %s: %w: %w", key, signer.ErrUnavailable, newAPIError(resp.StatusCode, body))
	}
	return nil, fmt.Errorf("gcs: read %s: %w", key, newAPIError(resp.StatusCode, body))
}

// WriteObject stores exactly size bytes from r at key with contentType,
// replacing any object there: one JSON API media upload
// (uploadType=media) that streams r under a fixed Content-Length. GCS
// makes the object appear whole or not at all; r yielding more or fewer
// than size bytes fails before the last byte goes out, so GCS receives a
// short body and stores nothing. The upload is not retried (r cannot be
// read again). An invalid key is signer.ErrInvalidKey; GCS unreachable or
// failing transiently signer.ErrUnavailable.
func (s *Signer) WriteObject(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	if err := signer.ValidateKey(key); err != nil {
		return fmt.Errorf("gcs: write: %w", err)
	}
	if size < 0 {
		return fmt.Errorf("gcs: write %s: negative size %d", key, size)
	}
	for i := 0; i < len(contentType); i++ {
		if c := contentType[i]; c < 0x20 || c > 0x7e {
			return fmt.Errorf("gcs: write %s: content type must be printable ASCII", key)
		}
	}
	u := s.uploads + "?uploadType=media&prettyPrint=false&name=" + url.QueryEscape(key)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, exact.NewReader(r, size))
	if err != nil {
		return fmt.Errorf("gcs: write %s: %w", key, err)
	}
	req.ContentLength = size
	if size == 0 {
		// A zero Content-Length with a body would be sent chunked: check r
		// is empty here and send no body.
		if _, err := exact.NewReader(r, 0).Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
			return fmt.Errorf("gcs: write %s: %w", key, err)
		}
		req.Body = http.NoBody
	}
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	req.Header.Set("Content-Type", contentType)
	if err := s.authorize(ctx, req); err != nil {
		return fmt.Errorf("gcs: write %s: %w", key, err)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		if ctx.Err() == nil && !errors.Is(err, exact.ErrShort) && !errors.Is(err, exact.ErrLong) {
			err = fmt.Errorf("%w: %w", signer.ErrUnavailable, err)
		}
		return fmt.Errorf("gcs: write %s: %w", key, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	err = newAPIError(resp.StatusCode, body)
	if retryable(ctx, resp.StatusCode, nil) {
		err = fmt.Errorf("%w: %w", signer.ErrUnavailable, err)
	}
	return fmt.Errorf("gcs: write %s: %w", key, err)
}
