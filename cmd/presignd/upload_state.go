package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// uploadStateVersion is the version of the resume state's format; a state
// of another version is not resumed.
const uploadStateVersion = 1

// maxUploadStateSize bounds the resume state file read back: 10,000 parts
// with long ETags and checksums stay far below it.
const maxUploadStateSize = 8 << 20

// errBadUploadState: a resume state file that cannot be used (malformed,
// another version, inconsistent).
var errBadUploadState = errors.New("unusable upload state")

// uploadState is what "presignd upload" keeps on disk while a multipart
// upload is under way, so that running the same command again continues
// it: which file (path, size, modification time), which server and
// category, the presignd file and its layout, and the parts sent so far.
// Storage (ListParts) stays the truth about which parts are held; the
// parts recorded here only let a resumed run refuse a held part that this
// client did not send.
type uploadState struct {
	Version  int    `json:"version"`
	Server   string `json:"server"`
	Category string `json:"category"`
	Path     string `json:"path"`
	Size     int64  `json:"size"`
	// ModTime is the file's modification time in Unix nanoseconds.
	ModTime int64  `json:"mtime_unix_nano"`
	FileID  string `json:"file_id"`
	// PartSize and PartCount are the upload's layout.
	PartSize  int64 `json:"part_size"`
	PartCount int32 `json:"part_count"`
	// PartChecksum is the checksum every part binds ("", SHA256 or CRC32C).
	PartChecksum string `json:"part_checksum,omitempty"`
	// Parts are the parts this client sent, by part number.
	Parts map[int32]statePart `json:"parts"`
}

// statePart is one part this client sent and storage acknowledged.
type statePart struct {
	ETag     string `json:"etag"`
	Checksum string `json:"checksum,omitempty"`
}

// validate reports whether s is a state this version can resume: its
// layout must cover Size exactly and its parts lie within it.
func (s *uploadState) validate() error {
	switch {
	case s.Version != uploadStateVersion:
		return fmt.Errorf("%w: version %d, want %d", errBadUploadState, s.Version, uploadStateVersion)
	case s.FileID == "" || len(s.FileID) > 64 || strings.ContainsAny(s.FileID, "/?#%\\") || strings.ContainsFunc(s.FileID, isControl):
		return fmt.Errorf("%w: file_id %q", errBadUploadState, s.FileID)
	case s.Size <= 0:
		return fmt.Errorf("%w: size %d", errBadUploadState, s.Size)
	case s.PartSize <= 0 || s.PartCount < 1 || s.PartCount > 10000:
		return fmt.Errorf("%w: layout %d parts of %d bytes", errBadUploadState, s.PartCount, s.PartSize)
	case partCount(s.Size, s.PartSize) != int64(s.PartCount):
		return fmt.Errorf("%w: %d parts of %d bytes do not cover %d bytes", errBadUploadState, s.PartCount, s.PartSize, s.Size)
	case s.PartChecksum != "" && s.PartChecksum != "SHA256" && s.PartChecksum != "CRC32C":
		return fmt.Errorf("%w: part checksum %q", errBadUploadState, s.PartChecksum)
	}
	for n, p := range s.Parts {
		if n < 1 || n > s.PartCount {
			return fmt.Errorf("%w: part %d of %d", errBadUploadState, n, s.PartCount)
		}
		if p.ETag == "" || len(p.ETag) > 256 || len(p.Checksum) > 128 {
			return fmt.Errorf("%w: part %d: etag %q", errBadUploadState, n, p.ETag)
		}
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// partCount is the number of parts of partSize bytes that hold size bytes.
func partCount(size, partSize int64) int64 {
	if partSize <= 0 {
		return 0
	}
	return (size + partSize - 1) / partSize
}

// partSpan returns the offset and size of part n (from 1) of a file of
// size bytes cut into parts of partSize: every part but the last is
// partSize bytes, the last holds the rest.
func partSpan(n int32, size, partSize int64) (offset, length int64) {
	offset = int64(n-1) * partSize
	return offset, min(partSize, size-offset)
}

// uploadStateDir is where resume states live: presignd/uploads under the
// user's cache directory.
func uploadStateDir() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory to keep the upload's state in: %w", err)
	}
	return filepath.Join(cache, "presignd", "uploads"), nil
}

// uploadStateName is the state file's name for one upload command: a
// digest of the server, the file's absolute path and the category, so
// that the same command run again finds it.
func uploadStateName(server, absPath, category string) string {
	sum := sha256.Sum256([]byte(server + "\x00" + absPath + "\x00" + category))
	return hex.EncodeToString(sum[:16]) + ".json"
}

// loadUploadState reads the state at path. A missing file is (nil, nil);
// one that cannot be used is an error wrapping errBadUploadState.
func loadUploadState(path string) (*uploadState, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxUploadStateSize+1))
	if err != nil {
		return nil, err
	}
	return parseUploadState(raw)
}

// parseUploadState decodes and validates a state; any defect is an error
// wrapping errBadUploadState, never a panic.
func parseUploadState(raw []byte) (*uploadState, error) {
	if len(raw) > maxUploadStateSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", errBadUploadState, maxUploadStateSize)
	}
	var s uploadState
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("%w: %v", errBadUploadState, err)
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	if s.Parts == nil {
		s.Parts = map[int32]statePart{}
	}
	return &s, nil
}

// saveUploadState writes s to path atomically: a temporary file in the
// same directory (mode 0600, the directory 0700), synced, then renamed over
// path, so a crash leaves the old state or the new one, never a torn one.
func saveUploadState(path string, s *uploadState) error {
	raw, err := json.Marshal(s)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("keep the upload's state: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".state-*")
	if err != nil {
		return fmt.Errorf("keep the upload's state: %w", err)
	}
	defer func() {
		if tmp != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return err
	}
	if _, err := tmp.Write(raw); err != nil {
		return fmt.Errorf("keep the upload's state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("keep the upload's state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("keep the upload's state: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("keep the upload's state: %w", err)
	}
	tmp = nil
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// removeUploadState deletes the state at path; a missing one is fine.
func removeUploadState(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
