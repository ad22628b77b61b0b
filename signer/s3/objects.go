package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/signer/internal/exact"
)

var (
	_ signer.ObjectReader = (*Signer)(nil)
	_ signer.ObjectWriter = (*Signer)(nil)
)

// ReadObject returns the bytes of the object at key from offset on, at most
// length bytes when length >= 0, with a ranged GetObject (no Range header
// for a whole read). An offset at or past the end (S3's 416) gives an
// empty body; a zero length asks HeadObject whether the object exists and
// gives an empty body. A missing object is signer.ErrNotFound, an invalid
// key signer.ErrInvalidKey, a negative offset signer.ErrUnsupported, an S3
// that cannot be reached or fails signer.ErrUnavailable.
func (s *Signer) ReadObject(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if err := signer.ValidateKey(key); err != nil {
		return nil, fmt.Errorf("s3: read: %w", err)
	}
	if offset < 0 {
		return nil, fmt.Errorf("s3: read %s: offset %d: %w", key, offset, signer.ErrUnsupported)
	}
	if length == 0 {
		if _, err := s.Stat(ctx, key); err != nil {
			return nil, err
		}
		return io.NopCloser(eofReader{}), nil
	}
	in := &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)}
	switch {
	case length > 0:
		in.Range = aws.String("bytes=" + strconv.FormatInt(offset, 10) + "-" + strconv.FormatInt(offset+length-1, 10))
	case offset > 0:
		in.Range = aws.String("bytes=" + strconv.FormatInt(offset, 10) + "-")
	}
	out, err := s.client.GetObject(ctx, in)
	if err != nil {
		var re *awshttp.ResponseError
		switch {
		case isNotFound(err):
			return nil, fmt.Errorf("s3: read %s: %w", key, signer.ErrNotFound)
		case errors.As(err, &re) && re.HTTPStatusCode() == http.StatusRequestedRangeNotSatisfiable:
			// The object exists and the range starts at or past its end.
			return io.NopCloser(eofReader{}), nil
		}
		return nil, fmt.Errorf("s3: read %s: %w", key, classify(ctx, err))
	}
	if length > 0 {
		// A server that ignores Range sends the whole object: keep to the
		// length asked for (an offset ignored cannot be told from here, but
		// S3 and MinIO honour it).
		return struct {
			io.Reader
			io.Closer
		}{io.LimitReader(out.Body, length), out.Body}, nil
	}
	return out.Body, nil
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// WriteObject stores exactly size bytes from r at key with contentType,
// replacing any object there, in one PutObject that streams r under a
// fixed Content-Length. The payload is sent unsigned (UNSIGNED-PAYLOAD):
// hashing it first would mean reading r twice. r yielding more or fewer
// than size bytes fails before the last byte goes out, so S3 receives a
// short body and stores nothing. An invalid key is signer.ErrInvalidKey; an
// S3 that cannot be reached or fails signer.ErrUnavailable.
func (s *Signer) WriteObject(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	if err := signer.ValidateKey(key); err != nil {
		return fmt.Errorf("s3: write: %w", err)
	}
	if size < 0 {
		return fmt.Errorf("s3: write %s: negative size %d", key, size)
	}
	if err := checkHeaderValue("contentType", contentType); err != nil {
		return fmt.Errorf("s3: write %s: %w", key, err)
	}
	in := &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(key),
		Body:          exact.NewReader(r, size),
		ContentLength: aws.Int64(size),
	}
	if contentType != "" {
		in.ContentType = aws.String(contentType)
	}
	_, err := s.client.PutObject(ctx, in,
		s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware),
		func(o *s3.Options) { o.RetryMaxAttempts = 1 }) // r cannot be read again
	if err != nil {
		if errors.Is(err, exact.ErrShort) || errors.Is(err, exact.ErrLong) {
			// Not a transport failure, whatever the HTTP client calls it.
			return fmt.Errorf("s3: write %s: %w", key, err)
		}
		return fmt.Errorf("s3: write %s: %w", key, classify(ctx, err))
	}
	return nil
}
