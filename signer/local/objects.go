package local

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"

	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/signer/internal/exact"
)

var (
	_ signer.ObjectReader = (*Signer)(nil)
	_ signer.ObjectWriter = (*Signer)(nil)
)

// errWriteDeleted: WriteObject to a key whose tombstone is in force.
var errWriteDeleted = errors.New("the key was deleted and its tombstone is in force; a write now would be served as 410")

// ReadObject returns the bytes of the object at key from offset on, at most
// length bytes when length >= 0. An offset at or past the end gives an
// empty body. A missing object (or a key naming a "directory" of other
// keys) is signer.ErrNotFound; an invalid key signer.ErrInvalidKey; a
// negative offset signer.ErrUnsupported. The body reads the open file, so
// a Delete after the call does not cut it short.
func (s *Signer) ReadObject(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	obj, _, err := names(key)
	if err != nil {
		return nil, fmt.Errorf("local: read: %w", err)
	}
	if offset < 0 {
		return nil, fmt.Errorf("local: read %s: offset %d: %w", key, offset, signer.ErrUnsupported)
	}
	f, err := s.root.Open(obj)
	if err != nil {
		if isNotExist(err) {
			return nil, fmt.Errorf("local: read %s: %w", key, signer.ErrNotFound)
		}
		return nil, fmt.Errorf("local: read %s: %w", key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("local: read %s: %w", key, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("local: read %s: %w", key, signer.ErrNotFound)
	}
	n := fi.Size() - offset
	if n < 0 {
		n = 0
	}
	if length >= 0 && length < n {
		n = length
	}
	return &fileSection{SectionReader: io.NewSectionReader(f, min(offset, fi.Size()), n), f: f}, nil
}

// fileSection is part of an open file, closed with it.
type fileSection struct {
	*io.SectionReader
	f *os.File
}

func (s *fileSection) Close() error { return s.f.Close() }

// WriteObject stores exactly size bytes from r at key with contentType,
// replacing any object there (its sidecar gets the new type, size and
// checksums). The bytes go to a synced temporary file first and are
// renamed into place under key's lock, so the object appears whole or not
// at all. r yielding more or fewer than size bytes is an error and stores
// nothing. A key deleted less than MaxURLTTL ago is refused: its tombstone
// makes every URL answer 410, and a write racing a deletion must not bring
// the key back. An invalid key is signer.ErrInvalidKey; a key that clashes
// with the path of another ("a" and "a/b") is refused.
func (s *Signer) WriteObject(ctx context.Context, key string, r io.Reader, size int64, contentType string) (err error) {
	obj, meta, err := names(key)
	if err != nil {
		return fmt.Errorf("local: write: %w", err)
	}
	if size < 0 {
		return fmt.Errorf("local: write %s: negative size %d", key, size)
	}
	if err := checkHeaderValue("contentType", contentType); err != nil {
		return fmt.Errorf("local: write %s: %w", key, err)
	}
	tmp := tmpName(".write")
	f, err := s.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return fmt.Errorf("local: write %s: create temp file: %w", key, err)
	}
	defer func() {
		if f != nil {
			f.Close()
		}
		if err != nil {
			_ = s.root.Remove(tmp)
		}
	}()
	sha, sum5, crc := sha256.New(), md5.New(), crc32.New(castagnoli)
	bp := copyBufs.Get().(*[]byte)
	_, err = io.CopyBuffer(io.MultiWriter(f, sha, sum5, crc), readerWithContext{ctx, exact.NewReader(r, size)}, *bp)
	copyBufs.Put(bp)
	if err != nil {
		return fmt.Errorf("local: write %s: %w", key, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("local: write %s: sync: %w", key, err)
	}
	err = f.Close()
	f = nil
	if err != nil {
		return fmt.Errorf("local: write %s: close: %w", key, err)
	}
	md := sum5.Sum(nil)
	data, err := json.Marshal(sidecar{
		Key:         key,
		ContentType: contentType,
		Size:        size,
		ETag:        `"` + hex.EncodeToString(md) + `"`,
		SHA256:      base64.StdEncoding.EncodeToString(sha.Sum(nil)),
		MD5:         base64.StdEncoding.EncodeToString(md),
		CRC32C:      base64.StdEncoding.EncodeToString(crc.Sum(nil)),
		Created:     s.now().UTC(),
	})
	if err != nil {
		return fmt.Errorf("local: write %s: %w", key, err)
	}

	mu := s.lock(key)
	mu.Lock()
	defer mu.Unlock()
	if err = s.checkNotRevoked(key, errWriteDeleted); err != nil {
		return fmt.Errorf("local: write %s: %w", key, err)
	}
	if fi, lerr := s.root.Lstat(obj); lerr == nil && fi.IsDir() {
		err = errConflict
		return fmt.Errorf("local: write %s: %w", key, err)
	}
	old, oldErr := s.root.ReadFile(meta)
	if err = s.writeFileAtomic(meta, data); err != nil {
		return fmt.Errorf("local: write %s: sidecar: %w", key, err)
	}
	if err = s.renameInto(tmp, obj); err != nil {
		// The object was not replaced: put its sidecar back.
		if oldErr == nil {
			_ = s.writeFileAtomic(meta, old)
		} else {
			_ = s.root.Remove(meta)
		}
		return fmt.Errorf("local: write %s: %w", key, err)
	}
	if err = s.syncDir(obj); err != nil {
		return fmt.Errorf("local: write %s: %w", key, err)
	}
	return nil
}

// readerWithContext stops reading once ctx is done.
type readerWithContext struct {
	ctx context.Context
	r   io.Reader
}

func (r readerWithContext) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}
