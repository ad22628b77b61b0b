package local

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"path/filepath"
	"time"
)

// revokedDir holds one tombstone per deleted key, named by the hex SHA-256
// of the key (a flat directory, so keys that nest cannot clash).
const revokedDir = "revoked"

// DefaultMultipartMaxIdle is how long a multipart upload may go without a
// part before Sweep removes it, unless Config says otherwise.
const DefaultMultipartMaxIdle = 7 * 24 * time.Hour

// DefaultMaxURLTTL is the longest lifetime of an upload target unless
// Config says otherwise; it matches the longest url_ttl a category may set.
const DefaultMaxURLTTL = 7 * 24 * time.Hour

var (
	errRevoked         = refuse(http.StatusGone, "upload target already spent: the file at this key was deleted or failed; request a new upload")
	errRevokedDownload = refuse(http.StatusGone, "the file at this key was deleted")
)

// tombstone is what Delete leaves in revoked/: until it passes, the key
// refuses uploads and downloads through any URL signed before.
type tombstone struct {
	Key   string    `json:"key"`
	Until time.Time `json:"until"`
}

// tombstoneName returns the root-relative path of key's tombstone.
func tombstoneName(key string) string {
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(revokedDir, hex.EncodeToString(sum[:]))
}

// bury writes key's tombstone, valid for maxURLTTL from now: every upload
// target signed before expires by then. The write is atomic and synced, so
// a crash leaves either no tombstone or a whole one. The caller holds
// key's lock.
func (s *Signer) bury(key string) error {
	data, err := json.Marshal(tombstone{Key: key, Until: s.now().Add(s.maxURLTTL).UTC()})
	if err != nil {
		return err
	}
	return s.writeFileAtomic(tombstoneName(key), data)
}

// revoked reports whether key has a tombstone still in force. A tombstone
// that cannot be read counts as in force: refusing a write is safe,
// accepting one into a deleted file's key is not.
func (s *Signer) revoked(key string) (bool, error) {
	b, err := s.root.ReadFile(tombstoneName(key))
	if err != nil {
		if isNotExist(err) {
			return false, nil
		}
		return true, err
	}
	var ts tombstone
	if err := json.Unmarshal(b, &ts); err != nil {
		return true, nil
	}
	return s.now().Before(ts.Until), nil
}

// checkNotRevoked returns refusal when key has a tombstone in force.
func (s *Signer) checkNotRevoked(key string, refusal error) error {
	gone, err := s.revoked(key)
	if gone {
		return refusal
	}
	return err
}

// SweepCounts is what one Sweep removed.
type SweepCounts struct {
	// TempFiles are abandoned uploads and sidecars removed from tmp/.
	TempFiles int
	// Tombstones are tombstones of deleted keys whose time has passed.
	Tombstones int
	// Uploads are multipart uploads idle for longer than
	// MultipartMaxIdle, removed with their parts.
	Uploads int
}

// Sweep removes what no request will need again: temporary files in tmp/
// untouched for longer than MaxURLTTL (an upload killed mid-transfer; one
// in progress keeps writing to its file and stays younger), and tombstones
// whose time has passed, and multipart uploads to which no part came for
// longer than MultipartMaxIdle. It is safe to call while requests are served, and
// from several processes sharing Dir.
func (s *Signer) Sweep(ctx context.Context) (SweepCounts, error) {
	var c SweepCounts
	now := s.now()
	cutoff := now.Add(-s.maxURLTTL)
	n, err := s.removeOld(ctx, tmpDir, cutoff, func(name string) (bool, error) {
		if err := s.root.Remove(name); err != nil && !isNotExist(err) {
			return false, err
		}
		return true, nil
	})
	c.TempFiles = n
	if err != nil {
		return c, fmt.Errorf("local: sweep %s: %w", tmpDir, err)
	}
	n, err = s.removeOld(ctx, revokedDir, cutoff, func(name string) (bool, error) {
		b, err := s.root.ReadFile(name)
		if err != nil {
			return false, nil
		}
		var ts tombstone
		if json.Unmarshal(b, &ts) != nil || ts.Key == "" || tombstoneName(ts.Key) != name {
			return false, nil // not ours: leave it for an operator
		}
		mu := s.lock(ts.Key)
		mu.Lock()
		defer mu.Unlock()
		if b2, err := s.root.ReadFile(name); err != nil || !bytes.Equal(b, b2) || now.Before(ts.Until) {
			return false, nil // buried again meanwhile, or still in force
		}
		if err := s.root.Remove(name); err != nil && !isNotExist(err) {
			return false, err
		}
		return true, nil
	})
	c.Tombstones = n
	if err != nil {
		return c, fmt.Errorf("local: sweep %s: %w", revokedDir, err)
	}
	n, err = s.sweepUploads(ctx, now.Add(-s.multipartMaxIdle))
	c.Uploads = n
	if err != nil {
		return c, fmt.Errorf("local: sweep %s: %w", uploadsDir, err)
	}
	n, err = s.sweepTrash(ctx)
	c.TempFiles += n
	if err != nil {
		return c, fmt.Errorf("local: sweep %s: %w", tmpDir, err)
	}
	return c, nil
}

// removeOld calls remove for each regular file in dir last modified before
// cutoff and returns how many it removed.
func (s *Signer) removeOld(ctx context.Context, dir string, cutoff time.Time, remove func(name string) (bool, error)) (int, error) {
	f, err := s.root.Open(dir)
	if err != nil {
		if isNotExist(err) {
			return 0, nil
		}
		return 0, err
	}
	defer f.Close()
	removed := 0
	for {
		entries, err := f.ReadDir(256)
		for _, e := range entries {
			if ctx.Err() != nil {
				return removed, ctx.Err()
			}
			fi, ierr := e.Info()
			if ierr != nil || !fi.Mode().IsRegular() || !fi.ModTime().Before(cutoff) {
				continue
			}
			ok, rerr := remove(path.Join(dir, e.Name()))
			if rerr != nil {
				return removed, rerr
			}
			if ok {
				removed++
			}
		}
		if errors.Is(err, io.EOF) {
			return removed, nil
		}
		if err != nil {
			return removed, err
		}
	}
}

// RemoveLeftovers is Sweep for a caller that needs only the total.
func (s *Signer) RemoveLeftovers(ctx context.Context) (int, error) {
	c, err := s.Sweep(ctx)
	return c.TempFiles + c.Tombstones + c.Uploads, err
}
