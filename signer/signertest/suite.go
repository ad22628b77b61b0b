package signertest

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"io"
	"math/bits"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/presignd/presignd/signer"
)

// Run runs the conformance cases against the driver newHarness builds. Each
// case gets a fresh harness (closed when the case ends) and talks to the
// driver's server through real HTTP with Harness.HTTPClient. Cases that
// depend on a capability the harness does not claim are skipped.
//
// The whole suite waits about two seconds in total, for the case that uses
// a target after it expires.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	t.Helper()
	for _, tc := range slices.Concat(cases, multipartCases, objectCases) {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			t.Cleanup(h.Close)
			tc.run(t, &env{
				ctx:    t.Context(),
				signer: h.Signer(),
				client: h.HTTPClient(),
				caps:   h.Capabilities(),
			})
		})
	}
}

// env is what a case works with.
type env struct {
	ctx    context.Context
	signer signer.Signer
	client *http.Client
	caps   Capabilities
}

var cases = []struct {
	name string
	run  func(t *testing.T, e *env)
}{
	{"a PUT that follows the target is accepted and Stat describes the object", testPutAccepted},
	{"a download returns the same bytes with the stored type and disposition", testDownloadStored},
	{"a download honours the response content disposition and type it was signed with", testDownloadOverrides},
	{"a key with spaces and unicode round-trips", testUnusualKey},
	{"a PUT with another Content-Type is refused", testWrongContentType},
	{"a PUT whose bytes do not match the bound checksum is refused", testWrongChecksum},
	{"a checksum algorithm the backend cannot bind is refused with ErrUnsupported", testUnsupportedChecksum},
	{"a PUT with a tampered signature is refused with 403", testTamperedSignature},
	{"a PUT with a changed signed query parameter is refused with 403", testTamperedParam},
	{"an upload target is refused after it expires", testExpiredUpload},
	{"a download URL is refused after it expires", testExpiredDownload},
	{"an upload URL cannot be used with another method", testOtherMethod},
	{"an upload URL for one key cannot be used for another key", testOtherKey},
	{"a PUT larger than MaxSize is refused or stored with its real size", testOversizePut},
	{"a POST form upload is accepted and Stat describes the object", testPostAccepted},
	{"a POST form upload larger than MaxSize is refused", testPostOversize},
	{"a POST form upload with another content type is refused", testPostWrongContentType},
	{"a POST form upload with a tampered signature is refused", testPostTamperedSignature},
	{"Stat of a missing object returns ErrNotFound", testStatMissing},
	{"Delete removes the object", testDelete},
	{"Delete of a missing object succeeds", testDeleteMissing},
	{"an upload target used again after Delete", testTargetAfterDelete},
	{"keys ValidateKey rejects are refused with ErrInvalidKey", testInvalidKeys},
}

// ---- cases ----

func testPutAccepted(t *testing.T, e *env) {
	algs := append([]string{""}, e.caps.Checksums...)
	for _, alg := range algs {
		name := "without a checksum"
		if alg != "" {
			name = "with a " + alg + " checksum"
		}
		t.Run(name, func(t *testing.T) {
			body := payload(1000 + len(alg))
			req := e.uploadRequest("put-"+strings.ToLower(alg), body)
			if alg != "" {
				req.Checksum = signer.Checksum{Algorithm: alg, Value: checksumOf(alg, body)}
			}
			target := e.signUpload(t, req)
			if got := headerValue(target.Headers, "Content-Type"); got != req.ContentType {
				t.Errorf("target Headers[Content-Type] = %q, want %q", got, req.ContentType)
			}
			e.mustUpload(t, target, body)
			info := e.mustStat(t, req.Key)
			if info.Size != int64(len(body)) {
				t.Errorf("Stat Size = %d, want %d", info.Size, len(body))
			}
			if info.ContentType != req.ContentType {
				t.Errorf("Stat ContentType = %q, want %q", info.ContentType, req.ContentType)
			}
			if info.ETag == "" {
				t.Error("Stat ETag is empty")
			}
			if alg != "" && info.Checksums[alg] != req.Checksum.Value {
				t.Errorf("Stat Checksums[%s] = %q, want %q", alg, info.Checksums[alg], req.Checksum.Value)
			}
		})
	}
}

func testDownloadStored(t *testing.T, e *env) {
	body := payload(4096)
	req := e.uploadRequest("download-stored", body)
	req.ContentDisposition = `attachment; filename="stored.png"`
	e.mustUpload(t, e.signUpload(t, req), body)

	resp, got := e.download(t, signer.DownloadRequest{Key: req.Key, Expires: time.Now().Add(10 * time.Minute)})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET status = %d, want 200; body %q", resp.StatusCode, short(got))
	}
	if !bytes.Equal(got, body) {
		t.Errorf("GET returned %d bytes that differ from the %d uploaded", len(got), len(body))
	}
	if ct := resp.Header.Get("Content-Type"); ct != req.ContentType {
		t.Errorf("GET Content-Type = %q, want %q", ct, req.ContentType)
	}
	if cd := resp.Header.Get("Content-Disposition"); cd != req.ContentDisposition {
		t.Errorf("GET Content-Disposition = %q, want %q", cd, req.ContentDisposition)
	}
}

func testDownloadOverrides(t *testing.T, e *env) {
	body := payload(2048)
	req := e.uploadRequest("download-override", body)
	e.mustUpload(t, e.signUpload(t, req), body)

	dreq := signer.DownloadRequest{
		Key:                        req.Key,
		ResponseContentDisposition: `attachment; filename="report 2024.pdf"`,
		ResponseContentType:        "application/pdf",
		Expires:                    time.Now().Add(10 * time.Minute),
	}
	resp, got := e.download(t, dreq)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET status = %d, want 200; body %q", resp.StatusCode, short(got))
	}
	if !bytes.Equal(got, body) {
		t.Errorf("GET returned %d bytes that differ from the %d uploaded", len(got), len(body))
	}
	if cd := resp.Header.Get("Content-Disposition"); cd != dreq.ResponseContentDisposition {
		t.Errorf("GET Content-Disposition = %q, want %q", cd, dreq.ResponseContentDisposition)
	}
	if ct := resp.Header.Get("Content-Type"); ct != dreq.ResponseContentType {
		t.Errorf("GET Content-Type = %q, want %q", ct, dreq.ResponseContentType)
	}
}

func testUnusualKey(t *testing.T, e *env) {
	body := payload(300)
	req := e.uploadRequest("", body)
	req.Key = "signertest/sub dir/naïve résumé (1)+ü " + randomSuffix() + ".txt"
	e.mustUpload(t, e.signUpload(t, req), body)
	if info := e.mustStat(t, req.Key); info.Size != int64(len(body)) {
		t.Errorf("Stat Size = %d, want %d", info.Size, len(body))
	}
	resp, got := e.download(t, signer.DownloadRequest{Key: req.Key, Expires: time.Now().Add(10 * time.Minute)})
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, body) {
		t.Errorf("GET status = %d with %d bytes, want 200 with the %d uploaded", resp.StatusCode, len(got), len(body))
	}
}

func testWrongContentType(t *testing.T, e *env) {
	body := payload(500)
	req := e.uploadRequest("wrong-type", body)
	target := e.signUpload(t, req)
	target.Headers = withHeader(target.Headers, "Content-Type", "text/html")
	e.mustRefuse(t, target, body)
	e.mustNotExist(t, req.Key)
}

func testWrongChecksum(t *testing.T, e *env) {
	if len(e.caps.Checksums) == 0 {
		t.Skip("the backend binds no checksums")
	}
	for _, alg := range e.caps.Checksums {
		t.Run(alg, func(t *testing.T) {
			body := payload(700)
			other := bytes.Clone(body)
			other[0] ^= 0xff
			req := e.uploadRequest("bad-sum-"+strings.ToLower(alg), body)
			req.Checksum = signer.Checksum{Algorithm: alg, Value: checksumOf(alg, other)}
			e.mustRefuse(t, e.signUpload(t, req), body)
			e.mustNotExist(t, req.Key)
		})
	}
}

func testUnsupportedChecksum(t *testing.T, e *env) {
	algs := []string{"NO-SUCH-ALGORITHM"}
	for _, alg := range []string{signer.SHA256, signer.MD5, signer.CRC32C} {
		if !slices.Contains(e.caps.Checksums, alg) {
			algs = append(algs, alg)
		}
	}
	body := payload(10)
	for _, alg := range algs {
		t.Run(alg, func(t *testing.T) {
			req := e.uploadRequest("unsupported", body)
			req.Checksum = signer.Checksum{Algorithm: alg, Value: checksumOf(alg, body)}
			_, err := e.signer.SignUpload(e.ctx, req)
			if !errors.Is(err, signer.ErrUnsupported) {
				t.Errorf("SignUpload with a %s checksum: error %v, want one wrapping ErrUnsupported", alg, err)
			}
		})
	}
}

func testTamperedSignature(t *testing.T, e *env) {
	body := payload(256)
	req := e.uploadRequest("tampered-sig", body)
	target := e.signUpload(t, req)
	name, value, ok := e.findSignature(queryPairs(target.URL))
	if !ok {
		t.Fatal("no signature query parameter in the target URL; set Capabilities.SignatureParam")
	}
	target.URL = setQueryParam(target.URL, name, flipChar(value))
	e.mustRefuseWith(t, target, body, http.StatusForbidden)
	e.mustNotExist(t, req.Key)
}

func testTamperedParam(t *testing.T, e *env) {
	body := payload(256)
	req := e.uploadRequest("tampered-param", body)
	target := e.signUpload(t, req)
	var name, value string
	for _, p := range queryPairs(target.URL) {
		for _, cand := range []string{"X-Amz-Expires", "X-Goog-Expires", "expires"} {
			if strings.EqualFold(p[0], cand) {
				name, value = p[0], p[1]
			}
		}
	}
	if name == "" {
		t.Skip("no known expiry query parameter to tamper with")
	}
	n, err := strconv.ParseInt(value, 10, 64)
	if err != nil {
		t.Fatalf("expiry parameter %s = %q is not an integer", name, value)
	}
	target.URL = setQueryParam(target.URL, name, strconv.FormatInt(n+60, 10))
	e.mustRefuseWith(t, target, body, http.StatusForbidden)
	e.mustNotExist(t, req.Key)
}

func testExpiredUpload(t *testing.T, e *env) {
	body := payload(128)
	t.Run("signed with an expiry in the past", func(t *testing.T) {
		req := e.uploadRequest("expired-past", body)
		req.Expires = time.Now().Add(-time.Minute)
		target, err := e.signer.SignUpload(e.ctx, req)
		if err != nil {
			t.Logf("SignUpload refused a past expiry (allowed): %v", err)
			return
		}
		e.mustRefuse(t, target, body)
		e.mustNotExist(t, req.Key)
	})
	t.Run("used after its expiry", func(t *testing.T) {
		req := e.uploadRequest("expired-wait", body)
		req.Expires = time.Now().Add(time.Second)
		target := e.signUpload(t, req)
		deadline := req.Expires
		if target.Expires.After(deadline) {
			deadline = target.Expires
		}
		// Backends count expiry in whole seconds; leave a margin.
		time.Sleep(time.Until(deadline) + 1100*time.Millisecond)
		e.mustRefuse(t, target, body)
		e.mustNotExist(t, req.Key)
	})
}

func testExpiredDownload(t *testing.T, e *env) {
	body := payload(128)
	req := e.uploadRequest("expired-download", body)
	e.mustUpload(t, e.signUpload(t, req), body)
	u, err := e.signer.SignDownload(e.ctx, signer.DownloadRequest{Key: req.Key, Expires: time.Now().Add(-time.Minute)})
	if err != nil {
		t.Logf("SignDownload refused a past expiry (allowed): %v", err)
		return
	}
	resp, got := e.do(t, http.MethodGet, u, nil, nil)
	if resp.StatusCode < 400 || resp.StatusCode > 499 {
		t.Errorf("GET with an expired URL: status %d, want 4xx; body %q", resp.StatusCode, short(got))
	}
}

func testOtherMethod(t *testing.T, e *env) {
	body := payload(333)
	req := e.uploadRequest("other-method", body)
	target := e.signUpload(t, req)
	e.mustUpload(t, target, body)
	for _, method := range []string{http.MethodGet, http.MethodDelete, http.MethodPost} {
		t.Run(method, func(t *testing.T) {
			var reqBody []byte
			if method == http.MethodPost {
				reqBody = payload(50)
			}
			resp, got := e.do(t, method, target.URL, target.Headers, reqBody)
			if resp.StatusCode < 400 || resp.StatusCode > 499 {
				t.Errorf("%s with a PUT URL: status %d, want 4xx; body %q", method, resp.StatusCode, short(got))
			}
			if info := e.mustStat(t, req.Key); info.Size != int64(len(body)) {
				t.Errorf("after %s, Stat Size = %d, want the %d bytes uploaded", method, info.Size, len(body))
			}
		})
	}
}

func testOtherKey(t *testing.T, e *env) {
	body := payload(444)
	suffix := randomSuffix()
	keyA := "signertest/key-a-" + suffix
	keyB := "signertest/key-b-" + suffix
	req := e.uploadRequest("", body)
	req.Key = keyA
	target := e.signUpload(t, req)
	pathEnd := strings.IndexAny(target.URL, "?#")
	if pathEnd < 0 {
		pathEnd = len(target.URL)
	}
	i := strings.LastIndex(target.URL[:pathEnd], "key-a-"+suffix)
	if i < 0 {
		t.Fatal("the target URL's path does not contain the key")
	}
	target.URL = target.URL[:i] + "key-b-" + target.URL[i+len("key-a-"):]
	e.mustRefuse(t, target, body)
	e.mustNotExist(t, keyB)
	e.mustNotExist(t, keyA)
}

func testOversizePut(t *testing.T, e *env) {
	const maxSize = 64
	body := payload(maxSize + 100)
	req := e.uploadRequest("oversize-put", body[:maxSize])
	req.MaxSize = maxSize
	target := e.signUpload(t, req)
	resp, got, err := e.upload(target, body)
	if err != nil {
		// A server may refuse by closing the connection mid-body.
		t.Logf("oversize PUT ended with a transport error: %v", err)
		e.mustNotExist(t, req.Key)
		return
	}
	switch {
	case resp.StatusCode >= 400 && resp.StatusCode <= 499:
		e.mustNotExist(t, req.Key)
	case e.caps.EnforcesPutMaxSize:
		t.Fatalf("oversize PUT: status %d, want 4xx (EnforcesPutMaxSize); body %q", resp.StatusCode, short(got))
	case resp.StatusCode >= 200 && resp.StatusCode <= 299:
		if info := e.mustStat(t, req.Key); info.Size != int64(len(body)) {
			t.Errorf("Stat Size = %d, want the real size %d", info.Size, len(body))
		}
	default:
		t.Fatalf("oversize PUT: status %d, want 2xx or 4xx; body %q", resp.StatusCode, short(got))
	}
}

func testPostAccepted(t *testing.T, e *env) {
	ps := e.postSigner(t)
	body := payload(1500)
	req := e.uploadRequest("post", body)
	target, err := ps.SignPostUpload(e.ctx, req)
	if err != nil {
		t.Fatalf("SignPostUpload: %v", err)
	}
	if !strings.EqualFold(target.Method, http.MethodPost) {
		t.Errorf("target Method = %q, want POST", target.Method)
	}
	e.mustUpload(t, target, body)
	info := e.mustStat(t, req.Key)
	if info.Size != int64(len(body)) {
		t.Errorf("Stat Size = %d, want %d", info.Size, len(body))
	}
	if info.ContentType != req.ContentType {
		t.Errorf("Stat ContentType = %q, want %q", info.ContentType, req.ContentType)
	}
	resp, got := e.download(t, signer.DownloadRequest{Key: req.Key, Expires: time.Now().Add(10 * time.Minute)})
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, body) {
		t.Errorf("GET status = %d with %d bytes, want 200 with the %d uploaded", resp.StatusCode, len(got), len(body))
	}
}

func testPostOversize(t *testing.T, e *env) {
	ps := e.postSigner(t)
	const maxSize = 64
	body := payload(maxSize + 200)
	req := e.uploadRequest("post-oversize", body[:maxSize])
	req.MaxSize = maxSize
	target, err := ps.SignPostUpload(e.ctx, req)
	if err != nil {
		t.Fatalf("SignPostUpload: %v", err)
	}
	resp, got, err := e.upload(target, body)
	if err != nil {
		t.Logf("oversize POST ended with a transport error: %v", err)
	} else if resp.StatusCode < 400 || resp.StatusCode > 499 {
		t.Errorf("oversize POST: status %d, want 4xx; body %q", resp.StatusCode, short(got))
	}
	e.mustNotExist(t, req.Key)
}

func testPostWrongContentType(t *testing.T, e *env) {
	ps := e.postSigner(t)
	body := payload(100)
	req := e.uploadRequest("post-wrong-type", body)
	target, err := ps.SignPostUpload(e.ctx, req)
	if err != nil {
		t.Fatalf("SignPostUpload: %v", err)
	}
	found := false
	for name := range target.FormFields {
		if strings.EqualFold(name, "Content-Type") {
			target.FormFields[name] = "text/html"
			found = true
		}
	}
	if !found {
		t.Fatal("the POST target has no Content-Type form field")
	}
	e.mustRefuse(t, target, body)
	e.mustNotExist(t, req.Key)
}

func testPostTamperedSignature(t *testing.T, e *env) {
	ps := e.postSigner(t)
	body := payload(100)
	req := e.uploadRequest("post-tampered", body)
	target, err := ps.SignPostUpload(e.ctx, req)
	if err != nil {
		t.Fatalf("SignPostUpload: %v", err)
	}
	var pairs [][2]string
	for k, v := range target.FormFields {
		pairs = append(pairs, [2]string{k, v})
	}
	name, value, ok := e.findSignature(pairs)
	if !ok {
		t.Fatal("no signature form field in the POST target; set Capabilities.SignatureParam")
	}
	target.FormFields[name] = flipChar(value)
	e.mustRefuse(t, target, body)
	e.mustNotExist(t, req.Key)
}

func testStatMissing(t *testing.T, e *env) {
	e.mustNotExist(t, "signertest/missing-"+randomSuffix())
}

func testDelete(t *testing.T, e *env) {
	body := payload(200)
	req := e.uploadRequest("delete", body)
	e.mustUpload(t, e.signUpload(t, req), body)
	e.mustStat(t, req.Key)
	if err := e.signer.Delete(e.ctx, req.Key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	e.mustNotExist(t, req.Key)
	resp, got := e.download(t, signer.DownloadRequest{Key: req.Key, Expires: time.Now().Add(10 * time.Minute)})
	if resp.StatusCode < 400 || resp.StatusCode > 499 {
		t.Errorf("GET after Delete: status %d, want 4xx; body %q", resp.StatusCode, short(got))
	}
}

// testTargetAfterDelete sends an upload target's bytes again after
// Delete. A backend that revokes (RevokesOnDelete) refuses with 410 and
// stores nothing, also for a download URL signed before; one that cannot
// revoke a signed URL stores them, which the sweeper's watched keys
// handle.
func testTargetAfterDelete(t *testing.T, e *env) {
	body := payload(300)
	req := e.uploadRequest("after-delete", body)
	target := e.signUpload(t, req)
	e.mustUpload(t, target, body)
	if err := e.signer.Delete(e.ctx, req.Key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if !e.caps.RevokesOnDelete {
		e.mustUpload(t, target, body)
		e.mustStat(t, req.Key)
		return
	}
	e.mustRefuseWith(t, target, body, http.StatusGone)
	e.mustNotExist(t, req.Key)
	resp, got := e.download(t, signer.DownloadRequest{Key: req.Key, Expires: time.Now().Add(10 * time.Minute)})
	if resp.StatusCode != http.StatusGone {
		t.Errorf("GET after Delete: status %d, want 410; body %q", resp.StatusCode, short(got))
	}
}

func testDeleteMissing(t *testing.T, e *env) {
	if err := e.signer.Delete(e.ctx, "signertest/never-"+randomSuffix()); err != nil {
		t.Errorf("Delete of a missing object: %v, want nil", err)
	}
}

func testInvalidKeys(t *testing.T, e *env) {
	ps := signer.CapabilitiesOf(e.signer).PostPolicy
	hasPost := ps != nil
	exp := time.Now().Add(10 * time.Minute)
	for _, k := range invalidKeys {
		t.Run(k.name, func(t *testing.T) {
			req := signer.UploadRequest{Key: k.key, ContentType: "image/png", Size: 1, MaxSize: 1, Expires: exp}
			if _, err := e.signer.SignUpload(e.ctx, req); !errors.Is(err, signer.ErrInvalidKey) {
				t.Errorf("SignUpload: error %v, want one wrapping ErrInvalidKey", err)
			}
			if hasPost {
				if _, err := ps.SignPostUpload(e.ctx, req); !errors.Is(err, signer.ErrInvalidKey) {
					t.Errorf("SignPostUpload: error %v, want one wrapping ErrInvalidKey", err)
				}
			}
			if _, err := e.signer.SignDownload(e.ctx, signer.DownloadRequest{Key: k.key, Expires: exp}); !errors.Is(err, signer.ErrInvalidKey) {
				t.Errorf("SignDownload: error %v, want one wrapping ErrInvalidKey", err)
			}
			if _, err := e.signer.Stat(e.ctx, k.key); !errors.Is(err, signer.ErrInvalidKey) {
				t.Errorf("Stat: error %v, want one wrapping ErrInvalidKey", err)
			}
			if err := e.signer.Delete(e.ctx, k.key); !errors.Is(err, signer.ErrInvalidKey) {
				t.Errorf("Delete: error %v, want one wrapping ErrInvalidKey", err)
			}
		})
	}
}

// invalidKeys are keys signer.ValidateKey rejects, named.
var invalidKeys = []struct{ name, key string }{
	{"empty", ""},
	{"parent segment", "../x"},
	{"parent segment inside", "a/../../x"},
	{"absolute", "/abs"},
	{"empty segment", "a//b"},
	{"dot segment", "a/./b"},
	{"trailing slash", "a/"},
	{"backslash", `a\b`},
	{"NUL", "a\x00b"},
	{"newline", "a\nb"},
	{"DEL", "a\x7fb"},
	{"invalid UTF-8", "a\xffb"},
	{"too long", strings.Repeat("k", signer.MaxKeyLength+1)},
}

// ---- helpers ----

// uploadRequest returns a PUT request for a fresh key named after name,
// binding image/png, the exact size of body, a 1 MiB maximum and a
// ten-minute expiry.
func (e *env) uploadRequest(name string, body []byte) signer.UploadRequest {
	return signer.UploadRequest{
		Key:         "signertest/" + name + "-" + randomSuffix(),
		ContentType: "image/png",
		Size:        int64(len(body)),
		MaxSize:     1 << 20,
		Expires:     time.Now().Add(10 * time.Minute),
	}
}

func (e *env) signUpload(t *testing.T, req signer.UploadRequest) signer.UploadTarget {
	t.Helper()
	target, err := e.signer.SignUpload(e.ctx, req)
	if err != nil {
		t.Fatalf("SignUpload: %v", err)
	}
	return target
}

func (e *env) postSigner(t *testing.T) signer.PostPolicySigner {
	t.Helper()
	if !e.caps.PostPolicy {
		t.Skip("the backend does not sign POST policies")
	}
	ps := signer.CapabilitiesOf(e.signer).PostPolicy
	if ps == nil {
		t.Fatal("Capabilities.PostPolicy is set but the signer does not implement signer.PostPolicySigner")
	}
	return ps
}

// upload sends body to target with Upload and reads the whole response.
func (e *env) upload(target signer.UploadTarget, body []byte) (*http.Response, []byte, error) {
	resp, err := Upload(e.ctx, e.client, target, body)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	return resp, got, err
}

func (e *env) mustUpload(t *testing.T, target signer.UploadTarget, body []byte) {
	t.Helper()
	resp, got, err := e.upload(target, body)
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		t.Fatalf("upload: status %d, want 2xx; body %q", resp.StatusCode, short(got))
	}
}

// mustRefuse requires a 4xx answer to an upload of body to target.
func (e *env) mustRefuse(t *testing.T, target signer.UploadTarget, body []byte) {
	t.Helper()
	e.mustRefuseWith(t, target, body, 0)
}

// mustRefuseWith requires status (any 4xx if 0) for an upload.
func (e *env) mustRefuseWith(t *testing.T, target signer.UploadTarget, body []byte, status int) {
	t.Helper()
	resp, got, err := e.upload(target, body)
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	switch {
	case status != 0 && resp.StatusCode != status:
		t.Errorf("upload: status %d, want %d; body %q", resp.StatusCode, status, short(got))
	case resp.StatusCode < 400 || resp.StatusCode > 499:
		t.Errorf("upload: status %d, want 4xx; body %q", resp.StatusCode, short(got))
	}
}

func (e *env) mustStat(t *testing.T, key string) signer.ObjectInfo {
	t.Helper()
	info, err := e.signer.Stat(e.ctx, key)
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	return info
}

func (e *env) mustNotExist(t *testing.T, key string) {
	t.Helper()
	if info, err := e.signer.Stat(e.ctx, key); !errors.Is(err, signer.ErrNotFound) {
		t.Errorf("Stat of an object that must not exist: (%+v, %v), want ErrNotFound", info, err)
	}
}

// download signs req and GETs the URL.
func (e *env) download(t *testing.T, req signer.DownloadRequest) (*http.Response, []byte) {
	t.Helper()
	u, err := e.signer.SignDownload(e.ctx, req)
	if err != nil {
		t.Fatalf("SignDownload: %v", err)
	}
	return e.do(t, http.MethodGet, u, nil, nil)
}

// do sends one request and reads the whole response.
func (e *env) do(t *testing.T, method, rawURL string, headers map[string]string, body []byte) (*http.Response, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(e.ctx, method, rawURL, r)
	if err != nil {
		t.Fatalf("new %s request: %v", method, err)
	}
	setHeaders(req, headers)
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s: reading body: %v", method, err)
	}
	return resp, got
}

// findSignature returns the pair among pairs that carries the signature.
func (e *env) findSignature(pairs [][2]string) (name, value string, ok bool) {
	cands := []string{"X-Amz-Signature", "X-Goog-Signature", "signature"}
	if e.caps.SignatureParam != "" {
		cands = []string{e.caps.SignatureParam}
	}
	for _, p := range pairs {
		for _, c := range cands {
			if strings.EqualFold(p[0], c) && p[1] != "" {
				return p[0], p[1], true
			}
		}
	}
	return "", "", false
}

// queryPairs returns the decoded name/value pairs of rawURL's query, in
// order.
func queryPairs(rawURL string) [][2]string {
	_, q, _ := strings.Cut(rawURL, "?")
	q, _, _ = strings.Cut(q, "#")
	var pairs [][2]string
	for part := range strings.SplitSeq(q, "&") {
		k, v, _ := strings.Cut(part, "=")
		k, _ = url.QueryUnescape(k)
		v, _ = url.QueryUnescape(v)
		pairs = append(pairs, [2]string{k, v})
	}
	return pairs
}

// setQueryParam replaces the value of the query parameter name in rawURL,
// leaving every other byte of the URL as it was.
func setQueryParam(rawURL, name, value string) string {
	base, q, _ := strings.Cut(rawURL, "?")
	parts := strings.Split(q, "&")
	for i, part := range parts {
		k, _, _ := strings.Cut(part, "=")
		if dk, _ := url.QueryUnescape(k); dk == name {
			parts[i] = k + "=" + url.QueryEscape(value)
		}
	}
	return base + "?" + strings.Join(parts, "&")
}

// flipChar changes the middle character of s to another character of the
// same kind (letter or digit), so s stays well-formed but differs.
func flipChar(s string) string {
	b := []byte(s)
	i := len(b) / 2
	switch c := b[i]; {
	case c >= '0' && c <= '8', c >= 'a' && c <= 'y', c >= 'A' && c <= 'Y':
		b[i] = c + 1
	case c == '9':
		b[i] = '0'
	case c == 'z':
		b[i] = 'a'
	case c == 'Z':
		b[i] = 'A'
	default:
		b[i] = 'A'
	}
	return string(b)
}

func headerValue(h map[string]string, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// withHeader returns a copy of h with name set to value (replacing any
// entry that differs only in case).
func withHeader(h map[string]string, name, value string) map[string]string {
	out := make(map[string]string, len(h)+1)
	for k, v := range h {
		if !strings.EqualFold(k, name) {
			out[k] = v
		}
	}
	out[name] = value
	return out
}

// checksumOf returns body's digest under alg, base64 (standard, padded).
// An unknown algorithm yields a SHA-256 digest, so the value is plausible.
func checksumOf(alg string, body []byte) string {
	var sum []byte
	switch alg {
	case signer.MD5:
		s := md5.Sum(body)
		sum = s[:]
	case signer.CRC32C:
		c := crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli))
		sum = []byte{byte(c >> 24), byte(c >> 16), byte(c >> 8), byte(c)}
	default:
		s := sha256.Sum256(body)
		sum = s[:]
	}
	return base64.StdEncoding.EncodeToString(sum)
}

// payload returns n deterministic, incompressible-looking bytes.
func payload(n int) []byte {
	r := mrand.New(mrand.NewPCG(uint64(n), bits.RotateLeft64(uint64(n), 17)))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func randomSuffix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// short trims a response body for an error message.
func short(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}
