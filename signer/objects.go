package signer

import (
	"context"
	"io"
)

// ObjectReader is an optional capability of a backend that reads stored
// bytes back: a ranged read for content sniffing, a whole read for
// scanning and thumbnails.
type ObjectReader interface {
	// ReadObject returns the bytes of the object at key from offset on,
	// at most length bytes when length >= 0, to the end when length < 0.
	// An offset at or past the end gives an empty body. A missing object
	// is ErrNotFound; an invalid key ErrInvalidKey; offset < 0 an error
	// wrapping ErrUnsupported. The caller closes the body.
	ReadObject(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)
}

// ObjectWriter is an optional capability of a backend that stores bytes
// presignd itself produces (derived objects such as thumbnails), as opposed
// to bytes a client uploads to a signed target.
type ObjectWriter interface {
	// WriteObject stores exactly size bytes from r at key with contentType,
	// replacing any object there; the object appears whole or not at all.
	// r yielding more or fewer than size bytes is an error and stores
	// nothing. An invalid key is ErrInvalidKey.
	WriteObject(ctx context.Context, key string, r io.Reader, size int64, contentType string) error
}
