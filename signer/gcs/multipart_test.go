package gcs_test

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/signer/gcs"
	"github.com/presignd/presignd/signer/gcs/gcstest"
)

const mib = 1 << 20

// filled is n bytes of a pattern that differs with seed.
func filled(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) ^ seed
	}
	return b
}

func crc32cOf(b []byte) string {
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
	return base64.StdEncoding.EncodeToString(sum[:])
}

func etagOf(b []byte) string {
	sum := md5.Sum(b)
	return `"` + hex.EncodeToString(sum[:]) + `"`
}

// create starts a multipart upload of key and fails the test if it cannot.
func (f *fixture) create(key string, checksum string) string {
	f.t.Helper()
	id, err := f.s.CreateMultipart(f.ctx, signer.UploadRequest{
		Key: key, ContentType: "video/mp4", ContentDisposition: `attachment; filename="clip.mp4"`,
		Checksum: signer.Checksum{Algorithm: checksum}, Expires: time.Now().Add(time.Hour),
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return id
}

// signPart signs a target for part n of the upload, holding body.
func (f *fixture) signPart(key, id string, n int, body []byte, checksum signer.Checksum) signer.UploadTarget {
	f.t.Helper()
	target, err := f.s.SignPart(f.ctx, signer.PartRequest{
		Key: key, UploadID: id, PartNumber: n, Size: int64(len(body)), Checksum: checksum,
		Expires: time.Now().Add(10 * time.Minute),
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return target
}

// putPart uploads body as part n and returns the ETag GCS answered.
func (f *fixture) putPart(key, id string, n int, body []byte) string {
	f.t.Helper()
	target := f.signPart(key, id, n, body, signer.Checksum{})
	etag, status, msg := f.sendPart(target, body)
	if status != http.StatusOK {
		f.t.Fatalf("part %d: status %d: %s", n, status, msg)
	}
	return etag
}

func (f *fixture) sendPart(target signer.UploadTarget, body []byte) (etag string, status int, msg string) {
	req, err := http.NewRequestWithContext(f.ctx, target.Method, target.URL, bytes.NewReader(body))
	if err != nil {
		f.t.Error(err)
		return "", 0, ""
	}
	for k, v := range target.Headers {
		req.Header.Set(k, v)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		f.t.Error(err)
		return "", 0, ""
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	return resp.Header.Get("ETag"), resp.StatusCode, string(got)
}

// Three parts sent in parallel, out of order, listed, completed: the
// object has the parts' bytes in order, the initiation's content type and
// disposition, the whole object's CRC32C and no MD5 (GCS keeps none for a
// multipart object); the upload is gone afterwards.
func TestMultipartUpload(t *testing.T) {
	f := newFixture(t)
	key := "tenants/t1/videos/clip 1.mp4"
	id := f.create(key, "")
	bodies := [][]byte{filled(5*mib, 1), filled(5*mib, 2), filled(1000, 3)}
	etags := make([]string, 3)
	var wg sync.WaitGroup
	for _, i := range []int{2, 0, 1} {
		target := f.signPart(key, id, i+1, bodies[i], signer.Checksum{})
		if n := strconv.Itoa(len(bodies[i])); target.Headers["x-goog-content-length-range"] != n+","+n {
			t.Errorf("part %d headers %v, want x-goog-content-length-range %d,%d", i+1, target.Headers, len(bodies[i]), len(bodies[i]))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			etag, status, msg := f.sendPart(target, bodies[i])
			if status != http.StatusOK {
				t.Errorf("part %d: status %d: %s", i+1, status, msg)
			}
			etags[i] = etag
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	parts, err := f.s.ListParts(f.ctx, key, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 3 {
		t.Fatalf("ListParts = %+v, want 3 parts", parts)
	}
	for i, p := range parts {
		if p.PartNumber != i+1 || p.Size != int64(len(bodies[i])) || p.ETag != etagOf(bodies[i]) || p.ETag != etags[i] {
			t.Errorf("part %d listed as %+v, want %d bytes with ETag %s (PUT answered %s)", i+1, p, len(bodies[i]), etagOf(bodies[i]), etags[i])
		}
	}
	if err := f.s.CompleteMultipart(f.ctx, key, id, parts); err != nil {
		t.Fatal(err)
	}
	whole := bytes.Join(bodies, nil)
	info, err := f.s.Stat(f.ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != int64(len(whole)) || info.ContentType != "video/mp4" {
		t.Errorf("Stat = size %d, type %q; want %d, video/mp4", info.Size, info.ContentType, len(whole))
	}
	if info.Checksums[signer.CRC32C] != crc32cOf(whole) {
		t.Errorf("Stat CRC32C %q, want the whole object's %q", info.Checksums[signer.CRC32C], crc32cOf(whole))
	}
	if v, ok := info.Checksums[signer.MD5]; ok {
		t.Errorf("Stat reports MD5 %q of a multipart object, which GCS does not keep", v)
	}
	u, err := f.s.SignDownload(f.ctx, signer.DownloadRequest{Key: key, Expires: time.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := f.srv.Client().Get(u)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(got, whole) {
		t.Errorf("download: %d bytes, want the %d bytes of the parts in order", len(got), len(whole))
	}
	if cd := resp.Header.Get("Content-Disposition"); cd != `attachment; filename="clip.mp4"` {
		t.Errorf("download Content-Disposition %q", cd)
	}
	if h := resp.Header.Get("x-goog-hash"); strings.Contains(h, "md5=") {
		t.Errorf("download x-goog-hash %q states an MD5", h)
	}
	if _, err := f.s.ListParts(f.ctx, key, id); !errors.Is(err, signer.ErrNotFound) {
		t.Errorf("ListParts after completion: %v, want ErrNotFound", err)
	}
	if err := f.s.CompleteMultipart(f.ctx, key, id, parts); !errors.Is(err, signer.ErrNotFound) {
		t.Errorf("CompleteMultipart again: %v, want ErrNotFound", err)
	}
	if err := f.s.AbortMultipart(f.ctx, key, id); err != nil {
		t.Errorf("AbortMultipart after completion: %v, want nil", err)
	}
}

// A part sent again replaces the earlier one: completing with the first
// ETag is refused naming the part, completing with the second makes the
// object of the later bytes.
func TestMultipartPartSentAgain(t *testing.T) {
	f := newFixture(t)
	key := "again.bin"
	id := f.create(key, "")
	first, second := filled(1000, 1), filled(1000, 2)
	etag1 := f.putPart(key, id, 1, first)
	etag2 := f.putPart(key, id, 1, second)
	err := f.s.CompleteMultipart(f.ctx, key, id, []signer.Part{{PartNumber: 1, ETag: etag1}})
	if !errors.Is(err, signer.ErrInvalidPart) || !strings.Contains(err.Error(), "part 1 is held with ETag") {
		t.Fatalf("completing with the replaced part's ETag: %v, want ErrInvalidPart naming part 1", err)
	}
	if err := f.s.CompleteMultipart(f.ctx, key, id, []signer.Part{{PartNumber: 1, ETag: etag2}}); err != nil {
		t.Fatal(err)
	}
	obj, err := f.srv.Fake.GetObject(f.srv.Bucket, key)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(obj.Content, second) {
		t.Error("the object does not hold the later bytes of part 1")
	}
}

func TestMultipartCompleteRefusals(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name  string
		sizes []int // parts uploaded, by number; 0 = not uploaded
		parts func(etags []string) []signer.Part
		is    error
		says  string
	}{
		{"a part never uploaded is named", []int{5 * mib, 0, 10}, func(e []string) []signer.Part {
			return []signer.Part{{PartNumber: 1, ETag: e[0]}, {PartNumber: 2, ETag: `"00000000000000000000000000000000"`}, {PartNumber: 3, ETag: e[2]}}
		}, signer.ErrInvalidPart, "part 2 of 3 was never uploaded"},
		{"a part under 5 MiB that is not last is named", []int{5 * mib, 10, 10}, func(e []string) []signer.Part {
			return []signer.Part{{PartNumber: 1, ETag: e[0]}, {PartNumber: 2, ETag: e[1]}, {PartNumber: 3, ETag: e[2]}}
		}, signer.ErrInvalidPart, "part 2 is 10 bytes"},
		{"a part with another ETag is named", []int{10}, func(e []string) []signer.Part {
			return []signer.Part{{PartNumber: 1, ETag: etagOf([]byte("other"))}}
		}, signer.ErrInvalidPart, "part 1 is held with ETag"},
		{"parts out of order are refused", []int{10, 10}, func(e []string) []signer.Part {
			return []signer.Part{{PartNumber: 2, ETag: e[1]}, {PartNumber: 1, ETag: e[0]}}
		}, signer.ErrInvalidPart, "part 1 follows part 2"},
		{"a repeated part is refused", []int{10}, func(e []string) []signer.Part {
			return []signer.Part{{PartNumber: 1, ETag: e[0]}, {PartNumber: 1, ETag: e[0]}}
		}, signer.ErrInvalidPart, "part 1 follows part 1"},
		{"a part without an ETag is refused", []int{10}, func(e []string) []signer.Part {
			return []signer.Part{{PartNumber: 1}}
		}, signer.ErrInvalidPart, "part 1 has no ETag"},
		{"part number 10001 is refused", []int{10}, func(e []string) []signer.Part {
			return []signer.Part{{PartNumber: 10001, ETag: e[0]}}
		}, signer.ErrInvalidPart, "part 10001 is not within"},
		{"no parts are refused", nil, func([]string) []signer.Part { return nil }, signer.ErrInvalidPart, "no parts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "refusals/" + strings.ReplaceAll(tc.name, " ", "-")
			id := f.create(key, "")
			etags := make([]string, len(tc.sizes))
			for i, n := range tc.sizes {
				if n > 0 {
					etags[i] = f.putPart(key, id, i+1, filled(n, byte(i)))
				}
			}
			err := f.s.CompleteMultipart(f.ctx, key, id, tc.parts(etags))
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("CompleteMultipart: %v; want %v saying %q", err, tc.is, tc.says)
			}
			if _, err := f.s.Stat(f.ctx, key); !errors.Is(err, signer.ErrNotFound) {
				t.Errorf("Stat after a refused completion: %v, want ErrNotFound", err)
			}
		})
	}
	t.Run("an unknown upload is not found", func(t *testing.T) {
		err := f.s.CompleteMultipart(f.ctx, "unknown", "ABPnzmNoSuchUpload", []signer.Part{{PartNumber: 1, ETag: `"x"`}})
		if !errors.Is(err, signer.ErrNotFound) {
			t.Fatalf("CompleteMultipart: %v, want ErrNotFound", err)
		}
	})
}

// A part target binds the part's upload, number, exact size and (when
// given) CRC32C; each alteration is refused as GCS refuses it.
func TestMultipartPartTargetsAreBound(t *testing.T) {
	f := newFixture(t)
	key := "bound/part.bin"
	id := f.create(key, signer.CRC32C)
	otherID := f.create(key, signer.CRC32C)
	body := filled(4096, 9)
	sum := signer.Checksum{Algorithm: signer.CRC32C, Value: crc32cOf(body)}
	setQuery := func(raw, name, value string) string {
		u, _ := url.Parse(raw)
		q := u.Query()
		q.Set(name, value)
		u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
		return u.String()
	}
	for _, tc := range []struct {
		name   string
		alter  func(tg *signer.UploadTarget, b *[]byte)
		status int
	}{
		{"the untouched part is accepted", func(*signer.UploadTarget, *[]byte) {}, http.StatusOK},
		{"a longer body is refused", func(_ *signer.UploadTarget, b *[]byte) {
			*b = append(bytes.Clone(*b), 0)
		}, http.StatusBadRequest},
		{"another size range is refused", func(tg *signer.UploadTarget, _ *[]byte) {
			tg.Headers["x-goog-content-length-range"] = "0,5000"
		}, http.StatusForbidden},
		{"a dropped size range is refused", func(tg *signer.UploadTarget, _ *[]byte) {
			delete(tg.Headers, "x-goog-content-length-range")
		}, http.StatusForbidden},
		{"corrupted bytes of the right size are refused by the CRC32C", func(_ *signer.UploadTarget, b *[]byte) {
			c := bytes.Clone(*b)
			c[100] ^= 1
			*b = c
		}, http.StatusBadRequest},
		{"the target used for another upload is refused", func(tg *signer.UploadTarget, _ *[]byte) {
			tg.URL = setQuery(tg.URL, "uploadId", otherID)
		}, http.StatusForbidden},
		{"the target used for another part number is refused", func(tg *signer.UploadTarget, _ *[]byte) {
			tg.URL = setQuery(tg.URL, "partNumber", "2")
		}, http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := f.signPart(key, id, 1, body, sum)
			b := body
			tc.alter(&target, &b)
			if _, status, msg := f.sendPart(target, b); status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, msg)
			}
		})
	}
	t.Run("an expired part target is refused", func(t *testing.T) {
		target := f.signPart(key, id, 1, body, sum)
		f.srv.SetNow(func() time.Time { return target.Expires })
		defer f.srv.SetNow(time.Now)
		if _, status, msg := f.sendPart(target, body); status != http.StatusForbidden {
			t.Fatalf("status %d, want 403: %s", status, msg)
		}
	})
}

func TestMultipartRefusesBadRequests(t *testing.T) {
	f := newFixture(t)
	exp := time.Now().Add(time.Minute)
	for _, alg := range []string{signer.SHA256, signer.MD5} {
		_, err := f.s.CreateMultipart(f.ctx, signer.UploadRequest{Key: "k", Checksum: signer.Checksum{Algorithm: alg}, Expires: exp})
		if !errors.Is(err, signer.ErrUnsupported) {
			t.Errorf("CreateMultipart with %s part checksums: %v, want ErrUnsupported", alg, err)
		}
	}
	if _, err := f.s.CreateMultipart(f.ctx, signer.UploadRequest{Key: "../k", Expires: exp}); !errors.Is(err, signer.ErrInvalidKey) {
		t.Errorf("CreateMultipart of ../k: %v, want ErrInvalidKey", err)
	}
	ok := signer.PartRequest{Key: "k", UploadID: "ABPnzm123", PartNumber: 1, Size: 5 * mib, Expires: exp}
	if _, err := f.s.SignPart(f.ctx, ok); err != nil {
		t.Fatalf("SignPart(%+v): %v", ok, err)
	}
	for _, tc := range []struct {
		name  string
		alter func(r *signer.PartRequest)
		is    error
	}{
		{"a SHA256 part checksum is unsupported", func(r *signer.PartRequest) {
			r.Checksum = signer.Checksum{Algorithm: signer.SHA256, Value: base64.StdEncoding.EncodeToString(make([]byte, 32))}
		}, signer.ErrUnsupported},
		{"a CRC32C of the wrong length is refused", func(r *signer.PartRequest) { r.Checksum = signer.Checksum{Algorithm: signer.CRC32C, Value: "AAAAAAA="} }, nil},
		{"part number 0 is refused", func(r *signer.PartRequest) { r.PartNumber = 0 }, nil},
		{"part number 10001 is refused", func(r *signer.PartRequest) { r.PartNumber = 10001 }, nil},
		{"a negative size is refused", func(r *signer.PartRequest) { r.Size = -1 }, nil},
		{"a size over 5 GiB is refused", func(r *signer.PartRequest) { r.Size = 5<<30 + 1 }, nil},
		{"an empty upload id is refused", func(r *signer.PartRequest) { r.UploadID = "" }, nil},
		{"an upload id with a space is refused", func(r *signer.PartRequest) { r.UploadID = "a b" }, nil},
		{"an upload id with a newline is refused", func(r *signer.PartRequest) { r.UploadID = "a\nb" }, nil},
		{"a key with a .. segment is refused", func(r *signer.PartRequest) { r.Key = "a/../b" }, signer.ErrInvalidKey},
		{"an expiry in the past is refused", func(r *signer.PartRequest) { r.Expires = time.Now().Add(-time.Second) }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ok
			tc.alter(&r)
			_, err := f.s.SignPart(f.ctx, r)
			if err == nil || (tc.is != nil && !errors.Is(err, tc.is)) {
				t.Fatalf("SignPart: %v, want an error (wrapping %v)", err, tc.is)
			}
		})
	}
	if _, err := f.s.ListParts(f.ctx, "k", "bad id"); err == nil {
		t.Error("ListParts accepted an upload id with a space")
	}
	if err := f.s.AbortMultipart(f.ctx, "k", ""); err == nil {
		t.Error("AbortMultipart accepted an empty upload id")
	}
	if got := f.s.PartLimits(); got != (signer.PartLimits{MinPartSize: 5 << 20, MaxPartSize: 5 << 30, MaxParts: 10000, MaxObjectSize: 5 << 40}) {
		t.Errorf("PartLimits = %+v", got)
	}
}

// Abort discards the parts: the upload is not found, a part target for it
// is refused, no object appears, and aborting again is not an error.
func TestMultipartAbort(t *testing.T) {
	f := newFixture(t)
	key := "aborted.bin"
	id := f.create(key, "")
	f.putPart(key, id, 1, filled(100, 1))
	target := f.signPart(key, id, 2, filled(100, 2), signer.Checksum{})
	if err := f.s.AbortMultipart(f.ctx, key, id); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.ListParts(f.ctx, key, id); !errors.Is(err, signer.ErrNotFound) {
		t.Errorf("ListParts after abort: %v, want ErrNotFound", err)
	}
	if _, status, msg := f.sendPart(target, filled(100, 2)); status != http.StatusNotFound {
		t.Errorf("a part after abort: status %d, want 404: %s", status, msg)
	}
	if _, err := f.s.Stat(f.ctx, key); !errors.Is(err, signer.ErrNotFound) {
		t.Errorf("Stat after abort: %v, want ErrNotFound", err)
	}
	if err := f.s.AbortMultipart(f.ctx, key, id); err != nil {
		t.Errorf("aborting again: %v, want nil", err)
	}
}

// ListParts and ListMultipartUploads read every page.
func TestMultipartListsArePaged(t *testing.T) {
	defer gcs.SetListPages(2, 2)()
	t.Setenv("STORAGE_EMULATOR_HOST", "")
	srv := gcstest.NewServer(t, "presignd-lists")
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	set := func(t time.Time) { mu.Lock(); now = t; mu.Unlock() }
	srv.SetNow(clock)
	s, err := gcs.New(t.Context(), gcs.Config{
		Bucket: srv.Bucket, CredentialsJSON: srv.CredentialsJSON, Endpoint: srv.URL, HTTPClient: srv.Client(), Now: clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f := &fixture{t: t, srv: srv, s: s, ctx: t.Context()}

	id := f.create("paged/parts", "")
	for n := 1; n <= 5; n++ {
		f.putPart("paged/parts", id, n, filled(n, byte(n)))
	}
	parts, err := s.ListParts(f.ctx, "paged/parts", id)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 5 {
		t.Fatalf("ListParts = %+v, want 5 parts", parts)
	}
	for i, p := range parts {
		if p.PartNumber != i+1 || p.Size != int64(i+1) {
			t.Errorf("part %d listed as %+v", i+1, p)
		}
	}

	t0 := now
	started := map[string]time.Time{id: t0}
	for i, at := range []time.Duration{-5 * time.Hour, -3 * time.Hour, -4 * time.Hour, -30 * time.Minute, -2 * time.Hour} {
		set(t0.Add(at))
		key := "paged/u" + string(rune('a'+i))
		started[f.create(key, "")] = t0.Add(at)
		if i == 4 {
			// Two uploads of one key, so a page ends inside a key.
			set(t0.Add(-6 * time.Hour))
			started[f.create(key, "")] = t0.Add(-6 * time.Hour)
		}
	}
	set(t0)
	got, err := s.ListMultipartUploads(f.ctx, t0.Add(-time.Hour), 100)
	if err != nil {
		t.Fatal(err)
	}
	var ages []time.Duration
	for _, u := range got {
		if want, ok := started[u.UploadID]; !ok || !u.Initiated.Equal(want.UTC().Truncate(time.Millisecond)) {
			t.Errorf("listed %+v, which was not started then", u)
		}
		ages = append(ages, t0.Sub(u.Initiated).Round(time.Hour))
	}
	want := []time.Duration{6 * time.Hour, 5 * time.Hour, 4 * time.Hour, 3 * time.Hour, 2 * time.Hour}
	if len(ages) != len(want) {
		t.Fatalf("listed %d uploads aged %v, want %v", len(ages), ages, want)
	}
	for i := range want {
		if ages[i] != want[i] {
			t.Fatalf("listed uploads aged %v, want %v (oldest first)", ages, want)
		}
	}
	oldest, err := s.ListMultipartUploads(f.ctx, t0.Add(-time.Hour), 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(oldest) != 2 || oldest[0].UploadID != got[0].UploadID || oldest[1].UploadID != got[1].UploadID {
		t.Errorf("limit 2: %+v, want the two oldest", oldest)
	}
	if err := s.AbortMultipart(f.ctx, got[0].Key, got[0].UploadID); err != nil {
		t.Fatal(err)
	}
	after, err := s.ListMultipartUploads(f.ctx, t0.Add(-time.Hour), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != 4 || after[0].UploadID == got[0].UploadID {
		t.Errorf("after aborting the oldest: %+v", after)
	}
}

// The Signer's own XML API calls go to signed URLs and carry no token,
// even when its JSON API calls do; the headers they send are signed.
func TestXMLCallsAreSignedURLs(t *testing.T) {
	t.Setenv("STORAGE_EMULATOR_HOST", "")
	a := newAPIStub(t)
	s, err := gcs.New(t.Context(), gcs.Config{Bucket: "bkt", CredentialsJSON: credentialsFor(t, a), Endpoint: a.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a.script(answer(http.StatusOK, `<?xml version="1.0"?><InitiateMultipartUploadResult><Bucket>bkt</Bucket><Key>a b</Key><UploadId>ABPnzm-9_x</UploadId></InitiateMultipartUploadResult>`))
	id, err := s.CreateMultipart(t.Context(), signer.UploadRequest{Key: "a b", ContentType: "text/plain", Expires: time.Now().Add(time.Hour)})
	if err != nil || id != "ABPnzm-9_x" {
		t.Fatalf("CreateMultipart = %q, %v", id, err)
	}
	calls := a.took()
	if len(calls) != 1 {
		t.Fatalf("%d calls", len(calls))
	}
	r := calls[0]
	q := r.URL.Query()
	if r.Method != http.MethodPost || r.URL.Path != "/bkt/a b" || !q.Has("uploads") || q.Get("X-Goog-Signature") == "" {
		t.Errorf("initiate went to %s %s", r.Method, r.URL)
	}
	if h := r.Header.Get("Authorization"); h != "" {
		t.Errorf("initiate carries Authorization %q besides its signature", h)
	}
	if sh := q.Get("X-Goog-SignedHeaders"); sh != "content-type;host;x-goog-user-project" {
		t.Errorf("X-Goog-SignedHeaders %q, want content-type;host;x-goog-user-project", sh)
	}
	if r.Header.Get("Content-Type") != "text/plain" || r.Header.Get("X-Goog-User-Project") != "billing-project" {
		t.Errorf("initiate headers %v", r.Header)
	}

	t.Run("a completion answered 200 with an error is an error", func(t *testing.T) {
		a.script(answer(http.StatusOK, `<?xml version="1.0"?><Error><Code>InternalError</Code><Message>try again</Message></Error>`))
		err := s.CompleteMultipart(t.Context(), "a b", id, []signer.Part{{PartNumber: 1, ETag: `"e"`}})
		if err == nil || !strings.Contains(err.Error(), "InternalError") {
			t.Fatalf("CompleteMultipart: %v, want the InternalError", err)
		}
	})
	t.Run("a failing GCS is unavailable after four tries", func(t *testing.T) {
		fail := answer(http.StatusServiceUnavailable, `<?xml version="1.0"?><Error><Code>ServiceUnavailable</Code></Error>`)
		a.script(fail, fail, fail, fail)
		_, err := s.ListParts(t.Context(), "a b", id)
		if !errors.Is(err, signer.ErrUnavailable) || len(a.took()) != 4 {
			t.Fatalf("ListParts: %v after %d calls, want ErrUnavailable after 4", err, len(a.took()))
		}
	})
	t.Run("a refusal is named", func(t *testing.T) {
		a.script(answer(http.StatusForbidden, `<?xml version="1.0"?><Error><Code>AccessDenied</Code><Message>no</Message></Error>`))
		err := s.AbortMultipart(t.Context(), "a b", id)
		if err == nil || errors.Is(err, signer.ErrUnavailable) || !strings.Contains(err.Error(), "AccessDenied") {
			t.Fatalf("AbortMultipart: %v, want an AccessDenied error", err)
		}
	})
	t.Run("an upload listing is a signed GET of the bucket", func(t *testing.T) {
		a.script(answer(http.StatusOK, `<?xml version="1.0"?><ListMultipartUploadsResult><IsTruncated>false</IsTruncated>`+
			`<Upload><Key>k</Key><UploadId>u1</UploadId><Initiated>2026-01-02T03:04:05.678Z</Initiated></Upload></ListMultipartUploadsResult>`))
		got, err := s.ListMultipartUploads(t.Context(), time.Now(), 10)
		if err != nil || len(got) != 1 || got[0].Key != "k" || got[0].UploadID != "u1" {
			t.Fatalf("ListMultipartUploads = %+v, %v", got, err)
		}
		r := a.took()[0]
		if r.Method != http.MethodGet || r.URL.Path != "/bkt" || !r.URL.Query().Has("uploads") || r.Header.Get("Authorization") != "" {
			t.Errorf("listing went to %s %s with Authorization %q", r.Method, r.URL, r.Header.Get("Authorization"))
		}
	})
}
