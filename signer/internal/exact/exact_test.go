package exact_test

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/presignd/presignd/signer/internal/exact"
)

// TestReader: a source of the declared size reads whole; one of another
// size fails, and never hands out the declared number of bytes.
func TestReader(t *testing.T) {
	for _, tc := range []struct {
		name    string
		src     []byte
		size    int64
		wantErr error
	}{
		{"a source of exactly the size reads whole", []byte("hello"), 5, nil},
		{"an empty source of size 0 reads empty", nil, 0, nil},
		{"a source one byte short fails as short", []byte("hell"), 5, exact.ErrShort},
		{"an empty source of size 5 fails as short", nil, 5, exact.ErrShort},
		{"a source one byte long fails as long", []byte("hello!"), 5, exact.ErrLong},
		{"a non-empty source of size 0 fails as long", []byte("x"), 0, exact.ErrLong},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, wrap := range []struct {
				name string
				fn   func(io.Reader) io.Reader
			}{{"whole", func(r io.Reader) io.Reader { return r }}, {"a byte at a time", iotest.OneByteReader}, {"data with EOF", iotest.DataErrReader}} {
				got, err := io.ReadAll(exact.NewReader(wrap.fn(bytes.NewReader(tc.src)), tc.size))
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("%s: error %v, want %v", wrap.name, err, tc.wantErr)
				}
				if tc.wantErr == nil && !bytes.Equal(got, tc.src) {
					t.Errorf("%s: read %q, want %q", wrap.name, got, tc.src)
				}
				if tc.wantErr != nil && int64(len(got)) >= tc.size && tc.size > 0 {
					t.Errorf("%s: handed out %d bytes of a bad source, want fewer than %d", wrap.name, len(got), tc.size)
				}
			}
		})
	}
}

// FuzzReader: whatever the source and size, a Reader hands out the source
// whole exactly when its length is the size, and fewer than size bytes
// otherwise.
func FuzzReader(f *testing.F) {
	f.Add([]byte("hello"), int64(5), uint8(3))
	f.Add([]byte(""), int64(0), uint8(1))
	f.Add([]byte("hello!"), int64(5), uint8(7))
	f.Fuzz(func(t *testing.T, src []byte, size int64, chunk uint8) {
		if size < 0 || size > 1<<16 {
			return
		}
		r := exact.NewReader(bytes.NewReader(src), size)
		var got []byte
		buf := make([]byte, int(chunk)+1)
		var err error
		for {
			var n int
			n, err = r.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				break
			}
		}
		if int64(len(src)) == size {
			if !errors.Is(err, io.EOF) || !bytes.Equal(got, src) {
				t.Fatalf("exact source: %q, %v", got, err)
			}
			return
		}
		if errors.Is(err, io.EOF) || (size > 0 && int64(len(got)) >= size) {
			t.Fatalf("%d-byte source as %d: read %d bytes, %v", len(src), size, len(got), err)
		}
	})
}
