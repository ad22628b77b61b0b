package local_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/signer/local"
	"github.com/presignd/presignd/signer/signertest"
)

const testMinPart = 1 << 10

// newMultipart starts a harness with small parts and a multipart upload
// of key, whose parts carry alg checksums when alg is set.
func newMultipart(t *testing.T, cfg local.Config, key, alg string) (*harness, string) {
	t.Helper()
	if cfg.MinPartSize == 0 {
		cfg.MinPartSize = testMinPart
	}
	h := newHarness(t, cfg)
	t.Cleanup(h.Close)
	id, err := h.s.CreateMultipart(context.Background(), signer.UploadRequest{
		Key: key, ContentType: "application/octet-stream", Checksum: signer.Checksum{Algorithm: alg},
	})
	if err != nil {
		t.Fatalf("CreateMultipart: %v", err)
	}
	return h, id
}

func signPart(t *testing.T, h *harness, key, id string, n int, body []byte) signer.UploadTarget {
	t.Helper()
	target, err := h.s.SignPart(context.Background(), signer.PartRequest{
		Key: key, UploadID: id, PartNumber: n, Size: int64(len(body)), Expires: time.Now().Add(time.Minute),
	})
	if err != nil {
		t.Fatalf("SignPart: %v", err)
	}
	return target
}

func etagOf(b []byte) string {
	s := md5.Sum(b)
	return `"` + hex.EncodeToString(s[:]) + `"`
}

func mustPut(t *testing.T, h *harness, target signer.UploadTarget, body []byte) {
	t.Helper()
	if status, msg := put(t, h, target, bytes.NewReader(body), nil); status != http.StatusOK {
		t.Fatalf("PUT part: %d %s", status, msg)
	}
}

// TestPartRefusals: a part PUT that strays from its target is refused
// with a 4xx naming why, stores no part, and leaves no temporary file.
func TestPartRefusals(t *testing.T) {
	const key = "big/file.bin"
	body := bytes.Repeat([]byte("p"), 100)
	tests := []struct {
		name   string
		edit   func(*http.Request)
		body   io.Reader
		status int
		msg    string
	}{
		{"a part number raised in the URL is refused", func(r *http.Request) {
			r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "part-number=1", "part-number=2", 1)
		}, nil, 403, "signature"},
		{"part number 0 is refused", func(r *http.Request) {
			r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "part-number=1", "part-number=0", 1)
		}, nil, 400, "out of range"},
		{"part number 10001 is refused", func(r *http.Request) {
			r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "part-number=1", "part-number=10001", 1)
		}, nil, 400, "out of range"},
		{"a non-canonical part number is refused", func(r *http.Request) {
			r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "part-number=1", "part-number=01", 1)
		}, nil, 403, "malformed"},
		{"a raised size is refused", func(r *http.Request) {
			r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "size=100", "size=101", 1)
		}, nil, 403, "signature"},
		{"an upload id with a path in it is refused before the disk", func(r *http.Request) {
			r.URL.RawQuery = replaceParam(r.URL.RawQuery, "upload-id", "..%2F..%2Fobjects%2Fx")
		}, nil, 403, "malformed"},
		{"a repeated upload id is refused", func(r *http.Request) {
			r.URL.RawQuery += "&upload-id=" + strings.Repeat("0", 32)
		}, nil, 403, "malformed"},
		{"a body longer than the part, announced, is refused", nil, bytes.NewReader(append(bytes.Clone(body), 'x')), 400, "part size"},
		{"a body shorter than the part is refused", nil, bytes.NewReader(body[:99]), 400, "part size"},
		{"a chunked body passing the part size is refused while receiving", nil,
			io.MultiReader(bytes.NewReader(body), strings.NewReader(strings.Repeat("x", 1<<20))), 400, "part size"},
		{"a part URL without its upload id (read as a plain PUT) is refused", func(r *http.Request) {
			r.URL.RawQuery = dropParam(r.URL.RawQuery, "upload-id")
		}, nil, 403, "signature"},
		{"a POST to a part URL is refused", func(r *http.Request) { r.Method = http.MethodPost }, nil, 403, ""},
		{"a GET with a part URL is refused", func(r *http.Request) { r.Method = http.MethodGet; r.Body = nil; r.ContentLength = 0 }, nil, 403, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, id := newMultipart(t, local.Config{}, key, "")
			target := signPart(t, h, key, id, 1, body)
			b := tc.body
			if b == nil {
				b = bytes.NewReader(body)
			}
			status, msg := put(t, h, target, b, tc.edit)
			if status != tc.status || !strings.Contains(msg, tc.msg) {
				t.Errorf("PUT: %d %s, want %d mentioning %q", status, msg, tc.status, tc.msg)
			}
			parts, err := h.s.ListParts(context.Background(), key, id)
			if err != nil || len(parts) != 0 {
				t.Errorf("ListParts: %+v, %v; want none", parts, err)
			}
			if got := entries(t, filepath.Join(h.dir, "tmp")); len(got) != 0 {
				t.Errorf("tmp/ holds %v after a refused part", got)
			}
		})
	}
}

// TestUploadSignatureIsNotAPartSignature: a plain PUT target's signature
// does not sign a part, whatever part parameters are added to it.
func TestUploadSignatureIsNotAPartSignature(t *testing.T) {
	const key = "plain/file.bin"
	h, id := newMultipart(t, local.Config{}, key, "")
	body := []byte("not a part")
	target, err := h.s.SignUpload(context.Background(), signer.UploadRequest{Key: key, Size: int64(len(body)), Expires: time.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	status, msg := put(t, h, target, bytes.NewReader(body), func(r *http.Request) {
		r.URL.RawQuery += fmt.Sprintf("&upload-id=%s&part-number=1&size=%d", id, len(body))
	})
	if status != http.StatusForbidden {
		t.Errorf("PUT: %d %s, want 403", status, msg)
	}
	if parts, err := h.s.ListParts(context.Background(), key, id); err != nil || len(parts) != 0 {
		t.Errorf("ListParts: %+v, %v; want none", parts, err)
	}
}

func replaceParam(rawQuery, name, value string) string {
	parts := strings.Split(rawQuery, "&")
	for i, p := range parts {
		if k, _, _ := strings.Cut(p, "="); k == name {
			parts[i] = name + "=" + value
		}
	}
	return strings.Join(parts, "&")
}

// TestPartChecksumRequired: an upload created with a part checksum
// algorithm refuses a part whose target binds none, or another one.
func TestPartChecksumRequired(t *testing.T) {
	const key = "sum/file.bin"
	h, id := newMultipart(t, local.Config{}, key, signer.SHA256)
	body := []byte("part bytes")
	for _, tc := range []struct {
		name string
		sum  signer.Checksum
	}{
		{"no checksum", signer.Checksum{}},
		{"a CRC32C checksum", signer.Checksum{Algorithm: signer.CRC32C, Value: crc32cB64(body)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target, err := h.s.SignPart(context.Background(), signer.PartRequest{
				Key: key, UploadID: id, PartNumber: 1, Size: int64(len(body)), Checksum: tc.sum, Expires: time.Now().Add(time.Minute),
			})
			if err != nil {
				t.Fatal(err)
			}
			if status, msg := put(t, h, target, bytes.NewReader(body), nil); status != http.StatusForbidden || !strings.Contains(msg, "part checksum") {
				t.Errorf("PUT: %d %s, want 403 naming the part checksum", status, msg)
			}
		})
	}
}

func crc32cB64(b []byte) string {
	c := crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli))
	return b64([]byte{byte(c >> 24), byte(c >> 16), byte(c >> 8), byte(c)})
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// TestPartForAnotherKeyIsRefused: a part target signed for key B that
// names key A's upload id is refused; A's upload holds nothing.
func TestPartForAnotherKeyIsRefused(t *testing.T) {
	h, id := newMultipart(t, local.Config{}, "a/key", "")
	body := []byte("bytes for b")
	target := signPart(t, h, "b/key", id, 1, body)
	if status, msg := put(t, h, target, bytes.NewReader(body), nil); status != http.StatusForbidden || !strings.Contains(msg, "another key") {
		t.Errorf("PUT: %d %s, want 403 for another key", status, msg)
	}
	if parts, err := h.s.ListParts(context.Background(), "a/key", id); err != nil || len(parts) != 0 {
		t.Errorf("ListParts: %+v, %v; want none", parts, err)
	}
	if _, err := h.s.ListParts(context.Background(), "b/key", id); !errors.Is(err, signer.ErrNotFound) {
		t.Errorf("ListParts under the other key: %v, want ErrNotFound", err)
	}
}

// TestMalformedUploadIDs: an upload id that is not one CreateMultipart
// gives never reaches the disk: SignPart and ListParts and
// CompleteMultipart answer ErrNotFound, AbortMultipart touches nothing.
func TestMalformedUploadIDs(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, local.Config{MinPartSize: testMinPart})
	defer h.Close()
	// An object and an upload an escaping id could reach.
	body := []byte("keep me")
	target, err := h.s.SignUpload(ctx, signer.UploadRequest{Key: "x", Expires: time.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, h, target, body)
	real, err := h.s.CreateMultipart(ctx, signer.UploadRequest{Key: "k"})
	if err != nil {
		t.Fatal(err)
	}
	before := entries(t, h.dir)
	for _, id := range []string{"", "..", "../objects", "../../x", "uploads/" + real, real + "/..", strings.ToUpper(real), real[:31], real + "0", "upload.json"} {
		t.Run(fmt.Sprintf("%q", id), func(t *testing.T) {
			if _, err := h.s.SignPart(ctx, signer.PartRequest{Key: "k", UploadID: id, PartNumber: 1, Size: 1, Expires: time.Now().Add(time.Minute)}); err == nil {
				t.Error("SignPart: no error")
			}
			if _, err := h.s.ListParts(ctx, "k", id); !errors.Is(err, signer.ErrNotFound) {
				t.Errorf("ListParts: %v, want ErrNotFound", err)
			}
			if err := h.s.CompleteMultipart(ctx, "k", id, []signer.Part{{PartNumber: 1, ETag: `"x"`}}); !errors.Is(err, signer.ErrNotFound) {
				t.Errorf("CompleteMultipart: %v, want ErrNotFound", err)
			}
			if err := h.s.AbortMultipart(ctx, "k", id); err != nil {
				t.Errorf("AbortMultipart: %v, want nil", err)
			}
			if got := entries(t, h.dir); !slices.Equal(got, before) {
				t.Errorf("the directory changed: %v, was %v", got, before)
			}
		})
	}
	if err := h.s.AbortMultipart(ctx, "other", real); err != nil {
		t.Errorf("AbortMultipart under another key: %v", err)
	}
	if _, err := h.s.ListParts(ctx, "k", real); err != nil {
		t.Errorf("an abort under another key removed the upload: %v", err)
	}
}

// TestPartSentAgainConcurrently: many PUTs of one part with different
// bytes leave exactly one copy, the one the pointer names, and the
// completed object is one of the bodies whole.
func TestPartSentAgainConcurrently(t *testing.T) {
	const key = "race/part.bin"
	h, id := newMultipart(t, local.Config{}, key, "")
	ctx := context.Background()
	const n = 8
	bodies := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range bodies {
		bodies[i] = bytes.Repeat([]byte{byte('a' + i)}, 64<<10)
		target := signPart(t, h, key, id, 1, bodies[i])
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := signertest.Upload(ctx, h.HTTPClient(), target, bodies[i])
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("PUT %d: %d", i, resp.StatusCode)
			}
		}()
	}
	wg.Wait()
	parts, err := h.s.ListParts(ctx, key, id)
	if err != nil || len(parts) != 1 {
		t.Fatalf("ListParts: %+v, %v; want one part", parts, err)
	}
	var data []string
	for _, e := range entries(t, filepath.Join(h.dir, "uploads", id)) {
		if strings.HasSuffix(e, ".data") {
			data = append(data, e)
		}
	}
	if len(data) != 1 {
		t.Errorf("the upload holds %d copies of part 1 (%v), want 1", len(data), data)
	}
	if err := h.s.CompleteMultipart(ctx, key, id, parts); err != nil {
		t.Fatal(err)
	}
	info, err := h.s.Stat(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(bodies, func(b []byte) bool { return etagOf(b) == info.ETag && etagOf(b) == parts[0].ETag }) {
		t.Errorf("the object's ETag %s is none of the bodies sent (listed %s)", info.ETag, parts[0].ETag)
	}
}

// uploadParts sends two parts (one of testMinPart bytes, one short) and
// returns them and the whole.
func uploadParts(t *testing.T, h *harness, key, id string) ([]signer.Part, []byte) {
	t.Helper()
	b1, b2 := bytes.Repeat([]byte("1"), testMinPart), []byte("the rest")
	mustPut(t, h, signPart(t, h, key, id, 1, b1), b1)
	mustPut(t, h, signPart(t, h, key, id, 2, b2), b2)
	return []signer.Part{{PartNumber: 1, ETag: etagOf(b1)}, {PartNumber: 2, ETag: etagOf(b2)}}, slices.Concat(b1, b2)
}

// TestConcurrentCompletes: several completes of one upload at once make
// one object; the first wins, the others find the upload gone
// (ErrNotFound), and the object is whole.
func TestConcurrentCompletes(t *testing.T) {
	const key = "race/complete.bin"
	h, id := newMultipart(t, local.Config{}, key, "")
	ctx := context.Background()
	parts, whole := uploadParts(t, h, key, id)
	errs := make([]error, 6)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = h.s.CompleteMultipart(ctx, key, id, parts) }()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, signer.ErrNotFound):
			t.Errorf("a concurrent complete: %v, want nil or ErrNotFound", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d completes succeeded, want 1", ok)
	}
	info, err := h.s.Stat(ctx, key)
	if err != nil || info.Size != int64(len(whole)) || info.Checksums[signer.SHA256] != sha256b64(whole) {
		t.Errorf("Stat: %+v, %v; want %d bytes with their SHA-256", info, err, len(whole))
	}
	if got := entries(t, filepath.Join(h.dir, "uploads")); len(got) != 0 {
		t.Errorf("uploads/ holds %v after completion", got)
	}
	if got := entries(t, filepath.Join(h.dir, "tmp")); len(got) != 0 {
		t.Errorf("tmp/ holds %v after completion", got)
	}
}

// TestFailedAssemblyLeavesNoObject: when a part cannot be read during
// assembly (a disk failing, or a crash), no object appears, nothing is
// left in tmp/, and the upload is still there to complete once the part
// is sent again.
func TestFailedAssemblyLeavesNoObject(t *testing.T) {
	const key = "crash/file.bin"
	h, id := newMultipart(t, local.Config{}, key, "")
	ctx := context.Background()
	parts, whole := uploadParts(t, h, key, id)
	dir := filepath.Join(h.dir, "uploads", id)
	var part2 string
	for _, e := range entries(t, dir) {
		if strings.HasPrefix(e, "part-00002-") && strings.HasSuffix(e, ".data") {
			part2 = filepath.Join(dir, e)
		}
	}
	if part2 == "" {
		t.Fatal("part 2's data file not found")
	}
	// Part 2's bytes become unreadable: a directory where the file was.
	if err := os.Remove(part2); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(part2, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := h.s.CompleteMultipart(ctx, key, id, parts); err == nil {
		t.Fatal("CompleteMultipart with an unreadable part succeeded")
	}
	if _, err := h.s.Stat(ctx, key); !errors.Is(err, signer.ErrNotFound) {
		t.Errorf("Stat after a failed assembly: %v, want ErrNotFound", err)
	}
	if got := entries(t, filepath.Join(h.dir, "tmp")); len(got) != 0 {
		t.Errorf("tmp/ holds %v after a failed assembly", got)
	}
	if err := os.Remove(part2); err != nil {
		t.Fatal(err)
	}
	b2 := whole[testMinPart:]
	mustPut(t, h, signPart(t, h, key, id, 2, b2), b2)
	if err := h.s.CompleteMultipart(ctx, key, id, parts); err != nil {
		t.Fatalf("CompleteMultipart after part 2 was sent again: %v", err)
	}
	if info, err := h.s.Stat(ctx, key); err != nil || info.Checksums[signer.SHA256] != sha256b64(whole) {
		t.Errorf("Stat: %+v, %v", info, err)
	}
}

// TestCompleteAfterCrashBeforeCleanup: an upload whose object was
// published by a completion that stopped before removing the upload's
// directory completes again without error, and the directory goes.
func TestCompleteAfterCrashBeforeCleanup(t *testing.T) {
	const key = "crash/cleanup.bin"
	h, id := newMultipart(t, local.Config{}, key, "")
	ctx := context.Background()
	parts, whole := uploadParts(t, h, key, id)
	dir := filepath.Join(h.dir, "uploads", id)
	saved := filepath.Join(t.TempDir(), "saved")
	if err := os.CopyFS(saved, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	if err := h.s.CompleteMultipart(ctx, key, id, parts); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(dir, os.DirFS(saved)); err != nil {
		t.Fatal(err)
	}
	if err := h.s.CompleteMultipart(ctx, key, id, parts); err != nil {
		t.Fatalf("CompleteMultipart of an upload already published: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the upload's directory is still there: %v", err)
	}
	if info, err := h.s.Stat(ctx, key); err != nil || info.Size != int64(len(whole)) {
		t.Errorf("Stat: %+v, %v", info, err)
	}
}

// TestCompleteRefusals: parts out of order, a short part that is not the
// last, or a wrong checksum are ErrInvalidPart naming the part, and leave
// the upload as it was.
func TestCompleteRefusals(t *testing.T) {
	const key = "refuse/file.bin"
	ctx := context.Background()
	h, id := newMultipart(t, local.Config{}, key, signer.CRC32C)
	b1, b2 := bytes.Repeat([]byte("1"), 10), bytes.Repeat([]byte("2"), 20)
	for n, b := range map[int][]byte{1: b1, 2: b2} {
		target, err := h.s.SignPart(ctx, signer.PartRequest{Key: key, UploadID: id, PartNumber: n, Size: int64(len(b)),
			Checksum: signer.Checksum{Algorithm: signer.CRC32C, Value: crc32cB64(b)}, Expires: time.Now().Add(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		mustPut(t, h, target, b)
	}
	p1 := signer.Part{PartNumber: 1, ETag: etagOf(b1), Checksum: signer.Checksum{Algorithm: signer.CRC32C, Value: crc32cB64(b1)}}
	p2 := signer.Part{PartNumber: 2, ETag: etagOf(b2), Checksum: signer.Checksum{Algorithm: signer.CRC32C, Value: crc32cB64(b2)}}
	bad := p2
	bad.Checksum.Value = crc32cB64(b1)
	for _, tc := range []struct {
		name  string
		parts []signer.Part
		names string
	}{
		{"parts out of order", []signer.Part{p2, p1}, "part 1"},
		{"a part repeated", []signer.Part{p1, p1}, "part 1"},
		{"a short part that is not the last", []signer.Part{p1, p2}, "part 1"},
		{"a part with another checksum", []signer.Part{bad}, "part 2"},
		{"no parts", nil, "no parts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := h.s.CompleteMultipart(ctx, key, id, tc.parts)
			if !errors.Is(err, signer.ErrInvalidPart) || !strings.Contains(err.Error(), tc.names) {
				t.Errorf("CompleteMultipart: %v, want ErrInvalidPart naming %q", err, tc.names)
			}
			if parts, err := h.s.ListParts(ctx, key, id); err != nil || len(parts) != 2 {
				t.Errorf("ListParts after a refused completion: %+v, %v", parts, err)
			}
		})
	}
	if err := h.s.CompleteMultipart(ctx, key, id, []signer.Part{p2}); err != nil {
		t.Errorf("completing with part 2 alone: %v", err)
	}
}

// TestPartTargetsAfterDelete: once Delete buried the key, its part
// targets are refused with 410 and completing the upload makes no object.
func TestPartTargetsAfterDelete(t *testing.T) {
	const key = "gone/file.bin"
	h, id := newMultipart(t, local.Config{}, key, "")
	ctx := context.Background()
	b1 := []byte("first")
	mustPut(t, h, signPart(t, h, key, id, 1, b1), b1)
	b2 := []byte("second")
	late := signPart(t, h, key, id, 2, b2)
	if err := h.s.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if status, msg := put(t, h, late, bytes.NewReader(b2), nil); status != http.StatusGone {
		t.Errorf("part PUT after Delete: %d %s, want 410", status, msg)
	}
	err := h.s.CompleteMultipart(ctx, key, id, []signer.Part{{PartNumber: 1, ETag: etagOf(b1)}})
	if !errors.Is(err, signer.ErrNotFound) {
		t.Errorf("CompleteMultipart after Delete: %v, want ErrNotFound", err)
	}
	if _, err := h.s.Stat(ctx, key); !errors.Is(err, signer.ErrNotFound) {
		t.Errorf("Stat after Delete and complete: %v, want ErrNotFound", err)
	}
}

// TestSweepRemovesAbandonedUploads: an upload no part reached for longer
// than MultipartMaxIdle is removed by Sweep (and RemoveLeftovers counts
// it); a recent one stays; the trash of a removal a crash interrupted
// goes at once.
func TestSweepRemovesAbandonedUploads(t *testing.T) {
	clk := &clock{t: time.Now()}
	h := newHarness(t, local.Config{MinPartSize: testMinPart, MultipartMaxIdle: time.Hour, Now: clk.Now})
	defer h.Close()
	ctx := context.Background()
	var ids []string
	for _, key := range []string{"old", "new"} {
		id, err := h.s.CreateMultipart(ctx, signer.UploadRequest{Key: key})
		if err != nil {
			t.Fatal(err)
		}
		b := []byte("part of " + key)
		mustPut(t, h, signPart(t, h, key, id, 1, b), b)
		ids = append(ids, id)
	}
	old := clk.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(filepath.Join(h.dir, "uploads", ids[0]), old, old); err != nil {
		t.Fatal(err)
	}
	trash := filepath.Join(h.dir, "tmp", "0123.upload")
	if err := os.MkdirAll(filepath.Join(trash, "sub"), 0o750); err != nil {
		t.Fatal(err)
	}
	n, err := h.s.RemoveLeftovers(ctx)
	if err != nil || n != 2 {
		t.Errorf("RemoveLeftovers: %d, %v; want 2 (the idle upload and the trash)", n, err)
	}
	if _, err := h.s.ListParts(ctx, "old", ids[0]); !errors.Is(err, signer.ErrNotFound) {
		t.Errorf("the idle upload: %v, want ErrNotFound", err)
	}
	if parts, err := h.s.ListParts(ctx, "new", ids[1]); err != nil || len(parts) != 1 {
		t.Errorf("the recent upload: %+v, %v; want its part", parts, err)
	}
	if got := entries(t, filepath.Join(h.dir, "tmp")); len(got) != 0 {
		t.Errorf("tmp/ holds %v after Sweep", got)
	}
}

// TestPartResponseCORS: a part PUT from a browser sees its ETag.
func TestPartResponseCORS(t *testing.T) {
	const key = "cors/file.bin"
	h, id := newMultipart(t, local.Config{AllowOrigin: "https://app.example"}, key, "")
	body := []byte("browser part")
	resp, err := signertest.Upload(context.Background(), h.HTTPClient(), signPart(t, h, key, id, 1, body), body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") != etagOf(body) {
		t.Errorf("PUT: %d, ETag %q; want 200 with %q", resp.StatusCode, resp.Header.Get("ETag"), etagOf(body))
	}
	if !strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "ETag") || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Errorf("part PUT response CORS headers: %v", resp.Header)
	}
}

// TestMultipartChecksumsOfTheWhole: Stat of a completed upload reports
// the whole object's SHA256, MD5 and CRC32C, computed while assembling.
func TestMultipartChecksumsOfTheWhole(t *testing.T) {
	const key = "whole/file.bin"
	h, id := newMultipart(t, local.Config{}, key, "")
	ctx := context.Background()
	parts, whole := uploadParts(t, h, key, id)
	if err := h.s.CompleteMultipart(ctx, key, id, parts); err != nil {
		t.Fatal(err)
	}
	info, err := h.s.Stat(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum(whole)
	want := map[string]string{signer.SHA256: sha256b64(whole), signer.MD5: b64(sum[:]), signer.CRC32C: crc32cB64(whole)}
	for alg, v := range want {
		if info.Checksums[alg] != v {
			t.Errorf("Checksums[%s] = %q, want %q", alg, info.Checksums[alg], v)
		}
	}
	if info.ETag != etagOf(whole) {
		t.Errorf("ETag = %q, want the whole object's MD5 %q", info.ETag, etagOf(whole))
	}
}

// TestPartBodyMemoryIsBounded: receiving a 32 MiB part (a stream of
// unknown length) and assembling it allocate a small, fixed amount, not
// the part's size.
func TestPartBodyMemoryIsBounded(t *testing.T) {
	const key = "mem/file.bin"
	const size = 32 << 20
	h, id := newMultipart(t, local.Config{}, key, "")
	ctx := context.Background()
	target := signPart(t, h, key, id, 1, make([]byte, size))
	body := io.LimitReader(zeros{}, size)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	resp, err := h.HTTPClient().Do(mustRequest(t, target, io.NopCloser(body)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT: %d", resp.StatusCode)
	}
	if err := h.s.CompleteMultipart(ctx, key, id, []signer.Part{{PartNumber: 1, ETag: resp.Header.Get("ETag")}}); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 4<<20 {
		t.Errorf("a %d-byte part allocated %d bytes, want under 4 MiB", size, got)
	}
	if info, err := h.s.Stat(ctx, key); err != nil || info.Size != size {
		t.Errorf("Stat: %+v, %v", info, err)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// mustRequest builds a PUT of body to target with its headers, of
// unknown length (chunked).
func mustRequest(t *testing.T, target signer.UploadTarget, body io.ReadCloser) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, target.URL, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range target.Headers {
		req.Header.Set(k, v)
	}
	return req
}
