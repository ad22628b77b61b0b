// Package scanner scans the bytes of completed uploads for malware, off
// the request path. A Scanner (its drivers live in sub-packages, such as
// scanner/clamd) reads a stream and names the signature it found; the
// Worker takes the file.scanning events the store writes when a category
// that asks for scanning completes an upload, reads the object through
// its backend's signer.ObjectReader, scans it, and moves the file to
// READY, or to QUARANTINED with its object deleted or moved under a
// quarantine prefix. The Worker is an events.Sink: the dispatcher's
// claims give each file to one replica, and its retries with backoff and
// dead letters cover a scanner that is down.
package scanner

import (
	"context"
	"errors"
	"io"
)

// Scanner scans streams for malware.
type Scanner interface {
	// Scan reads r to its end (or until the scanner refuses more) and
	// returns the name of the signature it matched, or "" when the stream
	// is clean. A stream over the scanner's size limit is ErrTooLarge;
	// any other error means the stream was not scanned and may be tried
	// again. Scan returns when ctx ends.
	Scan(ctx context.Context, r io.Reader) (signature string, err error)
	// Ping reports whether the scanner answers.
	Ping(ctx context.Context) error
}

// ErrTooLarge is the error of a scan whose stream is over the scanner's
// size limit (clamd's StreamMaxLength): the bytes cannot be scanned,
// however often they are tried.
var ErrTooLarge = errors.New("scanner: stream over the scanner's size limit")
