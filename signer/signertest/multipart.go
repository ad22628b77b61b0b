package signertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/presignd/presignd/signer"
)

// The multipart cases run when the signer implements
// signer.MultipartUploader (or the harness claims Capabilities.Multipart,
// which must then agree). Their part sizes come from
// PartLimits().MinPartSize: every part but the last is exactly that big, so
// a backend whose harness lowers its minimum runs them faster.
var multipartCases = []struct {
	name string
	run  func(t *testing.T, e *env)
}{
	{"multipart: three parts sent in parallel and out of order complete into the object", testMultipartParallel},
	{"multipart: a part sent again replaces the earlier one", testMultipartResend},
	{"multipart: a part missing at completion is ErrInvalidPart naming it", testMultipartMissingPart},
	{"multipart: ListParts after a partial upload shows the parts held", testMultipartListPartial},
	{"multipart: a part whose bytes do not match its bound checksum is refused", testMultipartPartChecksum},
	{"multipart: a part checksum algorithm the backend cannot bind is refused with ErrUnsupported", testMultipartUnsupportedChecksum},
	{"multipart: a part of another size than its target binds is refused", testMultipartPartSize},
	{"multipart: a part target with a tampered signature or part number is refused with 403", testMultipartTampered},
	{"multipart: a part target is refused after it expires", testMultipartExpired},
	{"multipart: a part target for one upload cannot be used for another", testMultipartOtherUpload},
	{"multipart: abort discards the upload and its parts", testMultipartAbort},
	{"multipart: part numbers outside 1..MaxParts are refused by SignPart", testMultipartPartNumberRange},
	{"multipart: keys ValidateKey rejects are refused by every multipart method", testMultipartInvalidKeys},
	{"multipart: ListMultipartUploads shows uploads initiated before the bound", testMultipartLister},
}

// mpUpload is one multipart upload a case works with.
type mpUpload struct {
	req signer.UploadRequest
	id  string
}

// multipart returns the signer's MultipartUploader, or skips the case when
// the backend has none. A harness that claims Capabilities.Multipart for a
// signer without it (or the reverse) fails the case.
func (e *env) multipart(t *testing.T) signer.MultipartUploader {
	t.Helper()
	mu := signer.CapabilitiesOf(e.signer).Multipart
	switch {
	case mu == nil && e.caps.Multipart:
		t.Fatal("Capabilities.Multipart is set but the signer does not implement signer.MultipartUploader")
	case mu != nil && !e.caps.Multipart:
		t.Fatal("the signer implements signer.MultipartUploader but Capabilities.Multipart is not set")
	case mu == nil:
		t.Skip("the backend has no multipart uploads")
	}
	return mu
}

// createMultipart starts a multipart upload of a fresh key named after name,
// for image/png with a stored disposition, whose parts carry alg checksums
// (none when empty). The upload is aborted when the test ends.
func (e *env) createMultipart(t *testing.T, mu signer.MultipartUploader, name, alg string) mpUpload {
	t.Helper()
	req := signer.UploadRequest{
		Key:                "signertest/mp-" + name + "-" + randomSuffix(),
		ContentType:        "image/png",
		ContentDisposition: `attachment; filename="parts.png"`,
		Checksum:           signer.Checksum{Algorithm: alg},
		Expires:            time.Now().Add(time.Hour),
	}
	id, err := mu.CreateMultipart(e.ctx, req)
	if err != nil {
		t.Fatalf("CreateMultipart: %v", err)
	}
	if id == "" {
		t.Fatal("CreateMultipart returned an empty upload id")
	}
	t.Cleanup(func() {
		// Best effort: a case may have completed or aborted it already.
		// The test's context is done by now.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = mu.AbortMultipart(ctx, req.Key, id)
	})
	return mpUpload{req: req, id: id}
}

// partRequest is a ten-minute target for part n of u holding body, with
// body's checksum when the upload binds one.
func partRequest(u mpUpload, n int, body []byte) signer.PartRequest {
	pr := signer.PartRequest{
		Key:        u.req.Key,
		UploadID:   u.id,
		PartNumber: n,
		Size:       int64(len(body)),
		Expires:    time.Now().Add(10 * time.Minute),
	}
	if alg := u.req.Checksum.Algorithm; alg != "" {
		pr.Checksum = signer.Checksum{Algorithm: alg, Value: checksumOf(alg, body)}
	}
	return pr
}

func (e *env) signPart(t *testing.T, mu signer.MultipartUploader, pr signer.PartRequest) signer.UploadTarget {
	t.Helper()
	target, err := mu.SignPart(e.ctx, pr)
	if err != nil {
		t.Fatalf("SignPart(part %d): %v", pr.PartNumber, err)
	}
	if !strings.EqualFold(target.Method, http.MethodPut) {
		t.Fatalf("SignPart(part %d): Method = %q, want PUT", pr.PartNumber, target.Method)
	}
	return target
}

// putPart sends body to target and returns the response status, the ETag
// header and the response body.
func (e *env) putPart(target signer.UploadTarget, body []byte) (status int, etag string, got []byte, err error) {
	resp, got, err := e.upload(target, body)
	if err != nil {
		return 0, "", nil, err
	}
	return resp.StatusCode, resp.Header.Get("ETag"), got, nil
}

// mustPutPart signs and sends part n of u and returns the part as a
// client would give it to CompleteMultipart: number, the ETag the PUT
// answered with, and the bound checksum.
func (e *env) mustPutPart(t *testing.T, mu signer.MultipartUploader, u mpUpload, n int, body []byte) signer.Part {
	t.Helper()
	pr := partRequest(u, n, body)
	status, etag, got, err := e.putPart(e.signPart(t, mu, pr), body)
	if err != nil {
		t.Fatalf("PUT part %d: %v", n, err)
	}
	if status < 200 || status > 299 {
		t.Fatalf("PUT part %d: status %d, want 2xx; body %q", n, status, short(got))
	}
	if etag == "" && !e.caps.PartsWithoutETag {
		t.Fatalf("PUT part %d: the response has no ETag header", n)
	}
	return signer.Part{PartNumber: n, Size: int64(len(body)), ETag: etag, Checksum: pr.Checksum}
}

func (e *env) mustListParts(t *testing.T, mu signer.MultipartUploader, u mpUpload) []signer.Part {
	t.Helper()
	parts, err := mu.ListParts(e.ctx, u.req.Key, u.id)
	if err != nil {
		t.Fatalf("ListParts: %v", err)
	}
	return parts
}

func (e *env) mustComplete(t *testing.T, mu signer.MultipartUploader, u mpUpload, parts []signer.Part) {
	t.Helper()
	if err := mu.CompleteMultipart(e.ctx, u.req.Key, u.id, parts); err != nil {
		t.Fatalf("CompleteMultipart: %v", err)
	}
}

// minPart is the size of every part but the last in the cases.
func (e *env) minPart(t *testing.T, mu signer.MultipartUploader) int {
	t.Helper()
	l := mu.PartLimits()
	if l.MinPartSize <= 0 || l.MaxPartSize < l.MinPartSize || l.MaxParts < 1 || l.MaxObjectSize < l.MaxPartSize {
		t.Fatalf("PartLimits() = %+v: want 0 < MinPartSize <= MaxPartSize <= MaxObjectSize and MaxParts >= 1", l)
	}
	if l.MinPartSize > 64<<20 {
		t.Fatalf("PartLimits().MinPartSize = %d: too big for the suite", l.MinPartSize)
	}
	return int(l.MinPartSize)
}

// partBody returns n deterministic bytes that differ for each seed.
func partBody(seed uint64, n int) []byte {
	r := mrand.New(mrand.NewPCG(seed, uint64(n)))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		b[i], b[i+1], b[i+2], b[i+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
		b[i+4], b[i+5], b[i+6], b[i+7] = byte(v>>32), byte(v>>40), byte(v>>48), byte(v>>56)
	}
	for i := n - n%8; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

// unquote drops the double quotes some backends put around ETags, so that
// ETags from a PUT response and from a listing compare.
func unquote(etag string) string {
	return strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(etag, "W/"), `"`), `"`)
}

// checkCompleted requires the object at u's key to be whole: Stat's size
// and content type, every checksum Stat reports equal to the whole
// object's digest (never a composite of the parts'), and a download
// returning the bytes with the stored disposition.
func (e *env) checkCompleted(t *testing.T, u mpUpload, whole []byte) {
	t.Helper()
	info := e.mustStat(t, u.req.Key)
	if info.Size != int64(len(whole)) {
		t.Errorf("Stat Size = %d, want %d", info.Size, len(whole))
	}
	if info.ContentType != u.req.ContentType {
		t.Errorf("Stat ContentType = %q, want %q", info.ContentType, u.req.ContentType)
	}
	if info.ETag == "" {
		t.Error("Stat ETag is empty")
	}
	for alg, v := range info.Checksums {
		switch alg {
		case signer.SHA256, signer.MD5, signer.CRC32C:
			if want := checksumOf(alg, whole); v != want {
				t.Errorf("Stat Checksums[%s] = %q, want the whole object's %q (a composite of the parts' must not be reported)", alg, v, want)
			}
		}
	}
	resp, got := e.download(t, signer.DownloadRequest{Key: u.req.Key, Expires: time.Now().Add(10 * time.Minute)})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET status = %d, want 200; body %q", resp.StatusCode, short(got))
	}
	if !bytes.Equal(got, whole) {
		t.Errorf("GET returned %d bytes that differ from the %d uploaded in parts", len(got), len(whole))
	}
	if cd := resp.Header.Get("Content-Disposition"); cd != u.req.ContentDisposition {
		t.Errorf("GET Content-Disposition = %q, want %q", cd, u.req.ContentDisposition)
	}
}

// ---- cases ----

func testMultipartParallel(t *testing.T, e *env) {
	mu := e.multipart(t)
	size := e.minPart(t, mu)
	bodies := [][]byte{partBody(1, size), partBody(2, size), partBody(3, 1000)}
	u := e.createMultipart(t, mu, "parallel", "")

	// Sign all three, then send 3, 1, 2 at once.
	targets := make([]signer.UploadTarget, len(bodies))
	for i, b := range bodies {
		targets[i] = e.signPart(t, mu, partRequest(u, i+1, b))
	}
	parts := make([]signer.Part, len(bodies))
	errs := make([]error, len(bodies))
	var wg sync.WaitGroup
	for _, i := range []int{2, 0, 1} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, etag, got, err := e.putPart(targets[i], bodies[i])
			switch {
			case err != nil:
				errs[i] = err
			case status < 200 || status > 299:
				errs[i] = fmt.Errorf("status %d, want 2xx; body %q", status, short(got))
			case etag == "" && !e.caps.PartsWithoutETag:
				errs[i] = errors.New("the response has no ETag header")
			}
			parts[i] = signer.Part{PartNumber: i + 1, ETag: etag}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("PUT part %d: %v", i+1, err)
		}
	}
	if err := mu.CompleteMultipart(e.ctx, u.req.Key, u.id, parts); err != nil {
		t.Fatalf("CompleteMultipart: %v", err)
	}
	e.checkCompleted(t, u, bytes.Join(bodies, nil))

	// A completed upload is gone: ListParts does not know it, and
	// aborting it neither fails nor removes the object.
	if _, err := mu.ListParts(e.ctx, u.req.Key, u.id); !errors.Is(err, signer.ErrNotFound) {
		t.Errorf("ListParts of a completed upload: error %v, want one wrapping ErrNotFound", err)
	}
	if err := mu.AbortMultipart(e.ctx, u.req.Key, u.id); err != nil {
		t.Errorf("AbortMultipart of a completed upload: %v, want nil", err)
	}
	if info := e.mustStat(t, u.req.Key); info.Size != int64(size*2+1000) {
		t.Errorf("after aborting the completed upload, Stat Size = %d, want %d", info.Size, size*2+1000)
	}
}

func testMultipartResend(t *testing.T, e *env) {
	mu := e.multipart(t)
	size := e.minPart(t, mu)
	first, second, last := partBody(10, size), partBody(11, size), partBody(12, 777)
	u := e.createMultipart(t, mu, "resend", "")
	stale := e.mustPutPart(t, mu, u, 1, first)
	p2 := e.mustPutPart(t, mu, u, 2, last)
	p1 := e.mustPutPart(t, mu, u, 1, second)

	parts := e.mustListParts(t, mu, u)
	if len(parts) != 2 || parts[0].PartNumber != 1 || parts[1].PartNumber != 2 {
		t.Fatalf("ListParts after re-sending part 1 = %+v, want parts 1 and 2 once each", parts)
	}
	if unquote(parts[0].ETag) != unquote(p1.ETag) {
		t.Errorf("ListParts part 1 ETag = %q, want the later PUT's %q", parts[0].ETag, p1.ETag)
	}
	switch {
	case e.caps.PartsWithoutETag:
		// Only the completed object tells which bytes part 1 holds.
	case unquote(p1.ETag) != unquote(stale.ETag):
		// Completing with the ETag of the bytes replaced must fail.
		err := mu.CompleteMultipart(e.ctx, u.req.Key, u.id, []signer.Part{stale, p2})
		if !errors.Is(err, signer.ErrInvalidPart) {
			t.Errorf("CompleteMultipart with the replaced part's ETag: error %v, want one wrapping ErrInvalidPart", err)
		}
	default:
		t.Errorf("part 1 sent twice with different bytes answered the same ETag %q", p1.ETag)
	}
	e.mustComplete(t, mu, u, []signer.Part{p1, p2})
	e.checkCompleted(t, u, slices.Concat(second, last))
}

func testMultipartMissingPart(t *testing.T, e *env) {
	mu := e.multipart(t)
	size := e.minPart(t, mu)
	u := e.createMultipart(t, mu, "missing", "")
	p1 := e.mustPutPart(t, mu, u, 1, partBody(20, size))
	p3 := e.mustPutPart(t, mu, u, 3, partBody(22, 500))
	never := signer.Part{PartNumber: 2, ETag: `"` + strings.Repeat("0", 32) + `"`}
	err := mu.CompleteMultipart(e.ctx, u.req.Key, u.id, []signer.Part{p1, never, p3})
	if !errors.Is(err, signer.ErrInvalidPart) {
		t.Fatalf("CompleteMultipart naming a part never sent: error %v, want one wrapping ErrInvalidPart", err)
	}
	if !strings.Contains(strings.ToLower(err.Error()), "part 2") {
		t.Errorf("CompleteMultipart error %q does not name part 2", err)
	}
	e.mustNotExist(t, u.req.Key)
}

func testMultipartListPartial(t *testing.T, e *env) {
	mu := e.multipart(t)
	size := e.minPart(t, mu)
	u := e.createMultipart(t, mu, "list", "")
	if parts := e.mustListParts(t, mu, u); len(parts) != 0 {
		t.Errorf("ListParts of a new upload = %+v, want none", parts)
	}
	sent := []signer.Part{
		e.mustPutPart(t, mu, u, 4, partBody(34, size)),
		e.mustPutPart(t, mu, u, 2, partBody(32, size)),
	}
	slices.SortFunc(sent, func(a, b signer.Part) int { return a.PartNumber - b.PartNumber })
	parts := e.mustListParts(t, mu, u)
	if len(parts) != len(sent) {
		t.Fatalf("ListParts = %+v, want parts 2 and 4", parts)
	}
	for i, p := range parts {
		want := sent[i]
		if p.PartNumber != want.PartNumber || p.Size != want.Size || unquote(p.ETag) != unquote(want.ETag) {
			t.Errorf("ListParts[%d] = {PartNumber:%d Size:%d ETag:%q}, want {PartNumber:%d Size:%d ETag:%q}",
				i, p.PartNumber, p.Size, p.ETag, want.PartNumber, want.Size, want.ETag)
		}
	}
	e.mustNotExist(t, u.req.Key)
}

func testMultipartPartChecksum(t *testing.T, e *env) {
	mu := e.multipart(t)
	if len(e.caps.PartChecksums) == 0 {
		t.Skip("the backend binds no part checksums")
	}
	size := e.minPart(t, mu)
	for _, alg := range e.caps.PartChecksums {
		t.Run(alg, func(t *testing.T) {
			u := e.createMultipart(t, mu, "part-sum-"+strings.ToLower(alg), alg)
			good := partBody(40, size)
			p1 := e.mustPutPart(t, mu, u, 1, good)

			// Part 2's target binds the checksum of other bytes.
			body := partBody(41, 600)
			other := bytes.Clone(body)
			other[len(other)/2] ^= 0xff
			pr := partRequest(u, 2, other)
			status, _, got, err := e.putPart(e.signPart(t, mu, pr), body)
			if err != nil {
				t.Fatalf("PUT of a corrupted part: %v", err)
			}
			if status < 400 || status > 499 {
				t.Errorf("PUT of a corrupted part: status %d, want 4xx; body %q", status, short(got))
			}
			parts := e.mustListParts(t, mu, u)
			if len(parts) != 1 || parts[0].PartNumber != 1 {
				t.Fatalf("ListParts after a refused part 2 = %+v, want part 1 only", parts)
			}
			if c := parts[0].Checksum; !c.IsZero() && (c.Algorithm != alg || c.Value != p1.Checksum.Value) {
				t.Errorf("ListParts part 1 Checksum = %+v, want %s %q", c, alg, p1.Checksum.Value)
			}

			p2 := e.mustPutPart(t, mu, u, 2, body)
			e.mustComplete(t, mu, u, []signer.Part{p1, p2})
			e.checkCompleted(t, u, slices.Concat(good, body))
		})
	}
}

func testMultipartUnsupportedChecksum(t *testing.T, e *env) {
	mu := e.multipart(t)
	algs := []string{"NO-SUCH-ALGORITHM"}
	for _, alg := range []string{signer.SHA256, signer.MD5, signer.CRC32C} {
		if !slices.Contains(e.caps.PartChecksums, alg) {
			algs = append(algs, alg)
		}
	}
	for _, alg := range algs {
		t.Run(alg, func(t *testing.T) {
			req := signer.UploadRequest{
				Key:         "signertest/mp-unsupported-" + randomSuffix(),
				ContentType: "image/png",
				Checksum:    signer.Checksum{Algorithm: alg},
				Expires:     time.Now().Add(time.Hour),
			}
			id, err := mu.CreateMultipart(e.ctx, req)
			if err == nil {
				_ = mu.AbortMultipart(e.ctx, req.Key, id)
			}
			if !errors.Is(err, signer.ErrUnsupported) {
				t.Errorf("CreateMultipart with %s part checksums: error %v, want one wrapping ErrUnsupported", alg, err)
			}
		})
	}
}

func testMultipartPartSize(t *testing.T, e *env) {
	mu := e.multipart(t)
	if !e.caps.EnforcesPartSize {
		t.Skip("the backend does not bind a part's size")
	}
	u := e.createMultipart(t, mu, "part-size", "")
	body := partBody(50, 1000)
	for _, tc := range []struct {
		name string
		send []byte
	}{
		{"one byte more", partBody(51, 1001)},
		{"one byte less", body[:999]},
		{"empty", []byte{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _, got, err := e.putPart(e.signPart(t, mu, partRequest(u, 1, body)), tc.send)
			if err != nil {
				t.Logf("PUT of %d bytes to a %d-byte part ended with a transport error: %v", len(tc.send), len(body), err)
			} else if status < 400 || status > 499 {
				t.Errorf("PUT of %d bytes to a %d-byte part: status %d, want 4xx; body %q", len(tc.send), len(body), status, short(got))
			}
			if parts := e.mustListParts(t, mu, u); len(parts) != 0 {
				t.Errorf("ListParts after a refused part = %+v, want none", parts)
			}
		})
	}
}

func testMultipartTampered(t *testing.T, e *env) {
	mu := e.multipart(t)
	u := e.createMultipart(t, mu, "tampered", "")
	body := partBody(60, 300)
	t.Run("signature", func(t *testing.T) {
		target := e.signPart(t, mu, partRequest(u, 1, body))
		name, value, ok := e.findSignature(queryPairs(target.URL))
		if !ok {
			t.Fatal("no signature query parameter in the part target URL; set Capabilities.SignatureParam")
		}
		target.URL = setQueryParam(target.URL, name, flipChar(value))
		e.mustRefuseWith(t, target, body, http.StatusForbidden)
	})
	t.Run("part number", func(t *testing.T) {
		if e.caps.PartNumberUnsigned {
			t.Skip("the backend carries the part number unsigned (Capabilities.PartNumberUnsigned); " +
				"the case \"a part target for one upload cannot be used for another\" bounds what a holder can do")
		}
		target := e.signPart(t, mu, partRequest(u, 1, body))
		var name string
		for _, p := range queryPairs(target.URL) {
			if strings.EqualFold(p[0], "partNumber") || strings.EqualFold(p[0], "part-number") {
				name = p[0]
			}
		}
		if name == "" {
			t.Fatal("no partNumber query parameter in the part target URL")
		}
		target.URL = setQueryParam(target.URL, name, "2")
		e.mustRefuseWith(t, target, body, http.StatusForbidden)
	})
	if parts := e.mustListParts(t, mu, u); len(parts) != 0 {
		t.Errorf("ListParts after tampered parts = %+v, want none", parts)
	}
}

func testMultipartExpired(t *testing.T, e *env) {
	mu := e.multipart(t)
	u := e.createMultipart(t, mu, "expired", "")
	body := partBody(70, 128)
	t.Run("signed with an expiry in the past", func(t *testing.T) {
		pr := partRequest(u, 1, body)
		pr.Expires = time.Now().Add(-time.Minute)
		target, err := mu.SignPart(e.ctx, pr)
		if err != nil {
			t.Logf("SignPart refused a past expiry (allowed): %v", err)
			return
		}
		e.mustRefuse(t, target, body)
	})
	t.Run("used after its expiry", func(t *testing.T) {
		pr := partRequest(u, 2, body)
		pr.Expires = time.Now().Add(time.Second)
		target := e.signPart(t, mu, pr)
		deadline := pr.Expires
		if target.Expires.After(deadline) {
			deadline = target.Expires
		}
		// Backends count expiry in whole seconds; leave a margin.
		time.Sleep(time.Until(deadline) + 1100*time.Millisecond)
		e.mustRefuse(t, target, body)
	})
	if parts := e.mustListParts(t, mu, u); len(parts) != 0 {
		t.Errorf("ListParts after expired part targets = %+v, want none", parts)
	}
}

func testMultipartOtherUpload(t *testing.T, e *env) {
	mu := e.multipart(t)
	a := e.createMultipart(t, mu, "upload-a", "")
	b := a
	id, err := mu.CreateMultipart(e.ctx, a.req)
	if err != nil {
		t.Fatalf("CreateMultipart of a second upload of the same key: %v", err)
	}
	b.id = id
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = mu.AbortMultipart(ctx, b.req.Key, b.id)
	})
	if a.id == b.id {
		t.Fatalf("two CreateMultipart calls returned the same upload id %q", a.id)
	}
	body := partBody(80, 400)
	target := e.signPart(t, mu, partRequest(a, 1, body))
	replaced := false
	for _, form := range []struct{ a, b string }{
		{url.QueryEscape(a.id), url.QueryEscape(b.id)},
		{url.PathEscape(a.id), url.PathEscape(b.id)},
		{a.id, b.id},
	} {
		if strings.Contains(target.URL, form.a) {
			target.URL = strings.ReplaceAll(target.URL, form.a, form.b)
			replaced = true
			break
		}
	}
	if !replaced {
		t.Fatal("the part target URL does not carry the upload id")
	}
	e.mustRefuse(t, target, body)
	for _, u := range []mpUpload{a, b} {
		if parts := e.mustListParts(t, mu, u); len(parts) != 0 {
			t.Errorf("ListParts of upload %q after a part target moved to another upload = %+v, want none", u.id, parts)
		}
	}
}

func testMultipartAbort(t *testing.T, e *env) {
	mu := e.multipart(t)
	size := e.minPart(t, mu)
	u := e.createMultipart(t, mu, "abort", "")
	e.mustPutPart(t, mu, u, 1, partBody(90, size))
	late := partBody(91, 200)
	lateTarget := e.signPart(t, mu, partRequest(u, 2, late))
	if parts := e.mustListParts(t, mu, u); len(parts) != 1 {
		t.Fatalf("ListParts before abort = %+v, want part 1", parts)
	}
	if err := mu.AbortMultipart(e.ctx, u.req.Key, u.id); err != nil {
		t.Fatalf("AbortMultipart: %v", err)
	}
	if parts, err := mu.ListParts(e.ctx, u.req.Key, u.id); !errors.Is(err, signer.ErrNotFound) {
		t.Errorf("ListParts after abort: (%+v, %v), want ErrNotFound", parts, err)
	}
	if e.caps.PartsAfterAbort {
		// The bytes may be stored, but the upload stays gone.
		if status, _, got, err := e.putPart(lateTarget, late); err == nil {
			t.Logf("a part target used after abort: status %d, body %q", status, short(got))
		}
		if parts, err := mu.ListParts(e.ctx, u.req.Key, u.id); !errors.Is(err, signer.ErrNotFound) {
			t.Errorf("ListParts after a part sent to the aborted upload: (%+v, %v), want ErrNotFound", parts, err)
		}
	} else {
		e.mustRefuse(t, lateTarget, late)
	}
	if err := mu.CompleteMultipart(e.ctx, u.req.Key, u.id, []signer.Part{{PartNumber: 1, ETag: `"x"`}}); !errors.Is(err, signer.ErrNotFound) {
		t.Errorf("CompleteMultipart after abort: error %v, want one wrapping ErrNotFound", err)
	}
	e.mustNotExist(t, u.req.Key)
	if err := mu.AbortMultipart(e.ctx, u.req.Key, u.id); err != nil {
		t.Errorf("AbortMultipart again: %v, want nil", err)
	}
}

func testMultipartPartNumberRange(t *testing.T, e *env) {
	mu := e.multipart(t)
	u := e.createMultipart(t, mu, "range", "")
	body := partBody(100, 10)
	for _, n := range []int{0, -1, mu.PartLimits().MaxParts + 1} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			if _, err := mu.SignPart(e.ctx, partRequest(u, n, body)); err == nil {
				t.Errorf("SignPart of part %d (MaxParts %d): no error", n, mu.PartLimits().MaxParts)
			}
		})
	}
	t.Run("MaxParts", func(t *testing.T) {
		n := mu.PartLimits().MaxParts
		e.mustPutPart(t, mu, u, n, body)
		if parts := e.mustListParts(t, mu, u); len(parts) != 1 || parts[0].PartNumber != n {
			t.Errorf("ListParts = %+v, want part %d", parts, n)
		}
	})
}

func testMultipartInvalidKeys(t *testing.T, e *env) {
	mu := e.multipart(t)
	u := e.createMultipart(t, mu, "valid", "")
	exp := time.Now().Add(10 * time.Minute)
	for _, k := range []struct{ name, key string }{
		{"empty", ""},
		{"parent segment", "../x"},
		{"absolute", "/abs"},
		{"empty segment", "a//b"},
		{"backslash", `a\b`},
		{"NUL", "a\x00b"},
		{"invalid UTF-8", "a\xffb"},
		{"too long", strings.Repeat("k", signer.MaxKeyLength+1)},
	} {
		t.Run(k.name, func(t *testing.T) {
			if id, err := mu.CreateMultipart(e.ctx, signer.UploadRequest{Key: k.key, ContentType: "image/png", Expires: exp}); !errors.Is(err, signer.ErrInvalidKey) {
				t.Errorf("CreateMultipart: (%q, %v), want an error wrapping ErrInvalidKey", id, err)
			}
			pr := signer.PartRequest{Key: k.key, UploadID: u.id, PartNumber: 1, Size: 1, Expires: exp}
			if _, err := mu.SignPart(e.ctx, pr); !errors.Is(err, signer.ErrInvalidKey) {
				t.Errorf("SignPart: error %v, want one wrapping ErrInvalidKey", err)
			}
			if _, err := mu.ListParts(e.ctx, k.key, u.id); !errors.Is(err, signer.ErrInvalidKey) {
				t.Errorf("ListParts: error %v, want one wrapping ErrInvalidKey", err)
			}
			if err := mu.CompleteMultipart(e.ctx, k.key, u.id, []signer.Part{{PartNumber: 1, ETag: `"x"`}}); !errors.Is(err, signer.ErrInvalidKey) {
				t.Errorf("CompleteMultipart: error %v, want one wrapping ErrInvalidKey", err)
			}
			if err := mu.AbortMultipart(e.ctx, k.key, u.id); !errors.Is(err, signer.ErrInvalidKey) {
				t.Errorf("AbortMultipart: error %v, want one wrapping ErrInvalidKey", err)
			}
		})
	}
	// The valid upload is untouched by all of the above.
	if parts := e.mustListParts(t, mu, u); len(parts) != 0 {
		t.Errorf("ListParts of the valid upload = %+v, want none", parts)
	}
}

func testMultipartLister(t *testing.T, e *env) {
	mu := e.multipart(t)
	ml := signer.CapabilitiesOf(e.signer).MultipartLister
	switch {
	case ml == nil && e.caps.MultipartLister:
		t.Fatal("Capabilities.MultipartLister is set but the signer does not implement signer.MultipartLister")
	case ml != nil && !e.caps.MultipartLister:
		t.Fatal("the signer implements signer.MultipartLister but Capabilities.MultipartLister is not set")
	case ml == nil:
		t.Skip("the backend does not list multipart uploads")
	}
	before := time.Now().Add(-time.Hour)
	u := e.createMultipart(t, mu, "listed", "")
	find := func(list []signer.PendingMultipart) (signer.PendingMultipart, bool) {
		for _, p := range list {
			if p.Key == u.req.Key && p.UploadID == u.id {
				return p, true
			}
		}
		return signer.PendingMultipart{}, false
	}
	list, err := ml.ListMultipartUploads(e.ctx, time.Now().Add(time.Hour), 1000)
	if err != nil {
		t.Fatalf("ListMultipartUploads: %v", err)
	}
	p, ok := find(list)
	if !ok {
		t.Fatalf("ListMultipartUploads(an hour ahead) = %+v, want it to hold upload %q of %q", list, u.id, u.req.Key)
	}
	if p.Initiated.Before(before) || p.Initiated.After(time.Now().Add(time.Hour)) {
		t.Errorf("Initiated = %v, want about now", p.Initiated)
	}
	list, err = ml.ListMultipartUploads(e.ctx, before, 1000)
	if err != nil {
		t.Fatalf("ListMultipartUploads: %v", err)
	}
	if _, ok := find(list); ok {
		t.Errorf("ListMultipartUploads(an hour ago) holds the upload just created")
	}
	if err := mu.AbortMultipart(e.ctx, u.req.Key, u.id); err != nil {
		t.Fatalf("AbortMultipart: %v", err)
	}
	list, err = ml.ListMultipartUploads(e.ctx, time.Now().Add(time.Hour), 1000)
	if err != nil {
		t.Fatalf("ListMultipartUploads: %v", err)
	}
	if _, ok := find(list); ok {
		t.Errorf("ListMultipartUploads after abort still holds the upload")
	}
}
