// Package exact reads exactly a declared number of bytes from a stream,
// for drivers that store a body whose length they announced up front.
package exact

import (
	"errors"
	"fmt"
	"io"
)

// Errors a Reader returns instead of io.EOF when the source disagrees
// with the declared size.
var (
	ErrShort = errors.New("body is shorter than its declared size")
	ErrLong  = errors.New("body is longer than its declared size")
)

// Reader yields the bytes of a source that must hold exactly a declared
// number of bytes. It fails with ErrShort when the source ends early and
// with ErrLong when it holds more; in both cases it fails before handing
// out the last declared byte, so a consumer that sends the bytes under a
// Content-Length never sends a complete body for a source of another
// size.
type Reader struct {
	src  io.Reader
	left int64
	err  error
}

// NewReader returns a Reader of size bytes from src. A negative size is an
// error at the first Read.
func NewReader(src io.Reader, size int64) *Reader {
	r := &Reader{src: src, left: size}
	if size < 0 {
		r.err = fmt.Errorf("negative size %d", size)
	}
	return r
}

// Read reads up to len(p) bytes. After the declared size it returns
// io.EOF, once the source is confirmed to be at its end too.
func (r *Reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.left == 0 {
		if err := r.checkEnd(); err != nil {
			r.err = err
			return 0, err
		}
		r.err = io.EOF
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n, err := r.src.Read(p)
	r.left -= int64(n)
	switch {
	case r.left == 0:
		// The last declared bytes: hand them out only once the source is
		// known to end here.
		if cerr := r.checkEnd(); cerr != nil {
			r.err = cerr
			return 0, cerr
		}
		r.err = io.EOF
		return n, nil
	case errors.Is(err, io.EOF):
		r.err = fmt.Errorf("%w (%d bytes missing)", ErrShort, r.left)
		return 0, r.err
	case err != nil:
		r.err = err
		return n, err
	}
	return n, nil
}

// checkEnd reads one more byte of the source: none (io.EOF) is the
// expected end.
func (r *Reader) checkEnd() error {
	var b [1]byte
	for {
		n, err := r.src.Read(b[:])
		if n > 0 {
			return ErrLong
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
