package gcs_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/signer/gcs"
	"github.com/presignd/presignd/signer/gcs/gcstest"
	"github.com/presignd/presignd/signer/signertest"
)

type harness struct {
	srv *gcstest.Server
	s   *gcs.Signer
}

func (h *harness) Signer() signer.Signer    { return h.s }
func (h *harness) HTTPClient() *http.Client { return h.srv.Client() }
func (h *harness) Close()                   { h.s.Close(); h.srv.Close() }
func (h *harness) Capabilities() signertest.Capabilities {
	return signertest.Capabilities{
		PostPolicy:         true,
		EnforcesPutMaxSize: false,
		Checksums:          []string{signer.MD5, signer.CRC32C},
		Multipart:          true,
		MultipartLister:    true,
		Objects:            true,
		PartChecksums:      []string{signer.CRC32C},
		EnforcesPartSize:   true, // x-goog-content-length-range
		SignatureParam:     "X-Goog-Signature",
	}
}

// newSigner returns a Signer pointed at srv with its service-account key.
func newSigner(t testing.TB, srv *gcstest.Server, virtualHost bool) *gcs.Signer {
	t.Helper()
	s, err := gcs.New(context.Background(), gcs.Config{
		Bucket:           srv.Bucket,
		CredentialsJSON:  srv.CredentialsJSON,
		Endpoint:         srv.URL,
		VirtualHostStyle: virtualHost,
		HTTPClient:       srv.Client(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	t.Setenv("STORAGE_EMULATOR_HOST", "")
	for _, style := range []struct {
		name        string
		virtualHost bool
	}{{"path style", false}, {"virtual-host style", true}} {
		t.Run(style.name, func(t *testing.T) {
			signertest.Run(t, func(t *testing.T) signertest.Harness {
				srv := gcstest.NewServer(t, "presignd-conformance")
				return &harness{srv: srv, s: newSigner(t, srv, style.virtualHost)}
			})
		})
	}
}

// fixture is a server, a signer on it, and a helper to send requests.
type fixture struct {
	t   *testing.T
	srv *gcstest.Server
	s   *gcs.Signer
	ctx context.Context
}

func newFixture(t *testing.T) *fixture {
	t.Setenv("STORAGE_EMULATOR_HOST", "")
	srv := gcstest.NewServer(t, "presignd-test")
	s := newSigner(t, srv, false)
	t.Cleanup(func() { s.Close() })
	return &fixture{t: t, srv: srv, s: s, ctx: t.Context()}
}

func (f *fixture) send(method, rawURL string, headers map[string]string, body []byte) (int, string) {
	f.t.Helper()
	req, err := http.NewRequestWithContext(f.ctx, method, rawURL, bytes.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(got)
}

func md5Of(b []byte) string {
	s := md5.Sum(b)
	return base64.StdEncoding.EncodeToString(s[:])
}

// The verifier refuses what GCS refuses; each case mutates a valid signed
// PUT and expects the status GCS answers.
func TestVerifierRefusesAlteredRequests(t *testing.T) {
	f := newFixture(t)
	body := []byte("%PDF-1.7 release form")
	sign := func(t *testing.T) signer.UploadTarget {
		target, err := f.s.SignUpload(f.ctx, signer.UploadRequest{
			Key:                "tenants/t1/releaseForms/" + strings.ReplaceAll(t.Name(), "/", "-") + ".pdf",
			ContentType:        "application/pdf",
			ContentDisposition: `attachment; filename="form.pdf"`,
			Checksum:           signer.Checksum{Algorithm: signer.MD5, Value: md5Of(body)},
			Size:               int64(len(body)),
			MaxSize:            10 << 20,
			Expires:            time.Now().Add(15 * time.Minute),
		})
		if err != nil {
			t.Fatal(err)
		}
		return target
	}
	setQuery := func(raw, name, value string) string {
		u, _ := url.Parse(raw)
		q := u.Query()
		q.Set(name, value)
		u.RawQuery = q.Encode()
		return u.String()
	}
	cases := []struct {
		name   string
		alter  func(target *signer.UploadTarget, method *string, body *[]byte)
		status int
	}{
		{"the untouched request is accepted", func(*signer.UploadTarget, *string, *[]byte) {}, http.StatusOK},
		{"a flipped signature digit is refused", func(tg *signer.UploadTarget, _ *string, _ *[]byte) {
			i := strings.Index(tg.URL, "X-Goog-Signature=") + len("X-Goog-Signature=") + 10
			c := byte('0')
			if tg.URL[i] == '0' {
				c = '1'
			}
			tg.URL = tg.URL[:i] + string(c) + tg.URL[i+1:]
		}, http.StatusForbidden},
		{"a later X-Goog-Date is refused", func(tg *signer.UploadTarget, _ *string, _ *[]byte) {
			u, _ := url.Parse(tg.URL)
			d, _ := time.Parse("20060102T150405Z", u.Query().Get("X-Goog-Date"))
			tg.URL = setQuery(tg.URL, "X-Goog-Date", d.Add(time.Minute).Format("20060102T150405Z"))
		}, http.StatusForbidden},
		{"a signed header dropped from X-Goog-SignedHeaders is refused", func(tg *signer.UploadTarget, _ *string, _ *[]byte) {
			u, _ := url.Parse(tg.URL)
			sh := strings.Replace(u.Query().Get("X-Goog-SignedHeaders"), "content-disposition;", "", 1)
			tg.URL = setQuery(tg.URL, "X-Goog-SignedHeaders", sh)
		}, http.StatusForbidden},
		{"another Content-Disposition is refused", func(tg *signer.UploadTarget, _ *string, _ *[]byte) {
			tg.Headers["Content-Disposition"] = `inline; filename="x.html"`
		}, http.StatusForbidden},
		{"a missing signed header is refused", func(tg *signer.UploadTarget, _ *string, _ *[]byte) {
			delete(tg.Headers, "Content-MD5")
		}, http.StatusForbidden},
		{"another method is refused", func(_ *signer.UploadTarget, m *string, _ *[]byte) {
			*m = http.MethodPost
		}, http.StatusForbidden},
		{"another account in the credential is refused", func(tg *signer.UploadTarget, _ *string, _ *[]byte) {
			u, _ := url.Parse(tg.URL)
			c := strings.Replace(u.Query().Get("X-Goog-Credential"), "presignd-test@", "someone-else@", 1)
			tg.URL = setQuery(tg.URL, "X-Goog-Credential", c)
		}, http.StatusForbidden},
		{"a body that does not match Content-MD5 is refused", func(_ *signer.UploadTarget, _ *string, b *[]byte) {
			*b = []byte("%PDF-1.7 forged form!")
		}, http.StatusBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			target := sign(t)
			method, b := http.MethodPut, bytes.Clone(body)
			tc.alter(&target, &method, &b)
			status, got := f.send(method, target.URL, target.Headers, b)
			if status != tc.status {
				t.Fatalf("status %d, want %d; body %s", status, tc.status, got)
			}
		})
	}
}

func TestVerifierRefusesExpiredURLs(t *testing.T) {
	f := newFixture(t)
	body := []byte("hello")
	target, err := f.s.SignUpload(f.ctx, signer.UploadRequest{
		Key: "expiring", ContentType: "text/plain", Expires: time.Now().Add(time.Minute),
	})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(target.Expires); d < 58*time.Second || d > 61*time.Second {
		t.Errorf("target expires in %s, want about a minute", d)
	}
	f.srv.SetNow(func() time.Time { return target.Expires })
	if status, got := f.send(http.MethodPut, target.URL, target.Headers, body); status != http.StatusForbidden {
		t.Fatalf("at its expiry: status %d, want 403; body %s", status, got)
	}
	f.srv.SetNow(func() time.Time { return target.Expires.Add(-time.Second) })
	if status, got := f.send(http.MethodPut, target.URL, target.Headers, body); status != http.StatusOK {
		t.Fatalf("a second before its expiry: status %d, want 200; body %s", status, got)
	}
}

func TestPostPolicyIsVerified(t *testing.T) {
	f := newFixture(t)
	req := signer.UploadRequest{
		Key:                "posted/form.pdf",
		ContentType:        "application/pdf",
		ContentDisposition: `attachment; filename="form.pdf"`,
		Size:               5,
		MaxSize:            10,
		Expires:            time.Now().Add(5 * time.Minute),
	}
	target, err := f.s.SignPostUpload(f.ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	policy, _ := base64.StdEncoding.DecodeString(target.FormFields["policy"])
	for _, want := range []string{`["content-length-range",1,10]`, `{"key":"posted/form.pdf"}`, `{"content-type":"application/pdf"}`, `{"bucket":"presignd-test"}`} {
		if !strings.Contains(string(policy), want) {
			t.Errorf("policy %s lacks %s", policy, want)
		}
	}
	post := func(fields map[string]string, body []byte) int {
		resp, err := signertest.Upload(f.ctx, f.srv.Client(), signer.UploadTarget{Method: "POST", URL: target.URL, FormFields: fields}, body)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	with := func(k, v string) map[string]string {
		m := make(map[string]string, len(target.FormFields)+1)
		for k, v := range target.FormFields {
			m[k] = v
		}
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	for _, tc := range []struct {
		name   string
		fields map[string]string
		body   []byte
		status int
	}{
		{"an empty file is under the range", target.FormFields, nil, http.StatusBadRequest},
		{"an 11-byte file is over the range", target.FormFields, []byte("01234567890"), http.StatusBadRequest},
		{"another key is refused", with("key", "posted/other.pdf"), []byte("12345"), http.StatusForbidden},
		{"a field the policy does not name is refused", with("x-goog-meta-owner", "mallory"), []byte("12345"), http.StatusForbidden},
		{"another disposition is refused", with("content-disposition", "inline"), []byte("12345"), http.StatusForbidden},
		{"a form without the signature is refused", with("x-goog-signature", ""), []byte("12345"), http.StatusBadRequest},
		{"the signed form is accepted", target.FormFields, []byte("12345"), http.StatusNoContent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := post(tc.fields, tc.body); got != tc.status {
				t.Fatalf("status %d, want %d", got, tc.status)
			}
		})
	}
	info, err := f.s.Stat(f.ctx, req.Key)
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != 5 || info.ContentType != "application/pdf" {
		t.Errorf("Stat = %+v, want 5 bytes of application/pdf", info)
	}
	f.srv.SetNow(func() time.Time { return target.Expires })
	if got := post(target.FormFields, []byte("12345")); got != http.StatusForbidden {
		t.Errorf("at the policy's expiry: status %d, want 403", got)
	}
}

func TestStatReportsChecksums(t *testing.T) {
	f := newFixture(t)
	body := []byte("The quick brown fox jumps over the lazy dog")
	target, err := f.s.SignUpload(f.ctx, signer.UploadRequest{
		Key: "sums", ContentType: "text/plain", Expires: time.Now().Add(time.Minute),
		Checksum: signer.Checksum{Algorithm: signer.CRC32C, Value: "ImIEBA=="}, // CRC-32C 0x22620404, big-endian
	})
	if err != nil {
		t.Fatal(err)
	}
	if target.Headers["x-goog-hash"] != "crc32c=ImIEBA==" {
		t.Errorf("headers %v, want x-goog-hash: crc32c=ImIEBA==", target.Headers)
	}
	if status, got := f.send(http.MethodPut, target.URL, target.Headers, body); status != http.StatusOK {
		t.Fatalf("PUT status %d: %s", status, got)
	}
	info, err := f.s.Stat(f.ctx, "sums")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{signer.MD5: "nhB9nTcrtoJr2B01QqQZ1g==", signer.CRC32C: "ImIEBA=="}
	for alg, v := range want {
		if info.Checksums[alg] != v {
			t.Errorf("Checksums[%s] = %q, want %q", alg, info.Checksums[alg], v)
		}
	}
	if got := f.s.StorageURI("a/b.pdf"); got != "gs://presignd-test/a/b.pdf" {
		t.Errorf("StorageURI = %q", got)
	}
}

// Config.Now is the signing time: X-Goog-Date, the policy's x-goog-date,
// and the expiry the target reports.
func TestNowIsTheSigningTime(t *testing.T) {
	t.Setenv("STORAGE_EMULATOR_HOST", "")
	srv := gcstest.NewServer(t, "presignd-clock")
	at := time.Date(2031, 5, 6, 7, 8, 9, 750e6, time.UTC)
	s, err := gcs.New(t.Context(), gcs.Config{
		Bucket: srv.Bucket, CredentialsJSON: srv.CredentialsJSON, Endpoint: srv.URL, HTTPClient: srv.Client(),
		Now: func() time.Time { return at },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	target, err := s.SignUpload(t.Context(), signer.UploadRequest{Key: "k", Expires: at.Add(90*time.Second + time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(target.URL)
	if q := u.Query(); q.Get("X-Goog-Date") != "20310506T070809Z" || q.Get("X-Goog-Expires") != "91" {
		t.Errorf("X-Goog-Date %s, X-Goog-Expires %s; want 20310506T070809Z and 91", q.Get("X-Goog-Date"), q.Get("X-Goog-Expires"))
	}
	if want := time.Date(2031, 5, 6, 7, 9, 40, 0, time.UTC); !target.Expires.Equal(want) {
		t.Errorf("target expires %s, want %s", target.Expires, want)
	}
	if _, err := s.SignDownload(t.Context(), signer.DownloadRequest{Key: "k", Expires: at}); err == nil {
		t.Error("SignDownload accepted an expiry at Config.Now")
	}
	post, err := s.SignPostUpload(t.Context(), signer.UploadRequest{Key: "k", Expires: at.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if d := post.FormFields["x-goog-date"]; d != "20310506T070809Z" {
		t.Errorf("policy x-goog-date %s, want 20310506T070809Z", d)
	}
}

// A Content-Type with leading white space is signed as GCS reads it
// (trimmed), so the upload is accepted.
func TestLeadingWhiteSpaceInContentType(t *testing.T) {
	f := newFixture(t)
	for _, ct := range []string{" text/plain", "\ttext/plain;  charset=utf-8", "\u00a0text/plain"} {
		target, err := f.s.SignUpload(f.ctx, signer.UploadRequest{Key: "ws", ContentType: ct, Expires: time.Now().Add(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		if status, body := f.send(http.MethodPut, target.URL, target.Headers, []byte("x")); status != http.StatusOK {
			t.Errorf("Content-Type %q: status %d: %s", ct, status, body)
		}
	}
}

func TestSignRefusesBadRequests(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	for _, tc := range []struct {
		name string
		req  signer.UploadRequest
		is   error
	}{
		{"a SHA256 checksum is unsupported", signer.UploadRequest{Key: "k", Expires: now.Add(time.Minute), Checksum: signer.Checksum{Algorithm: signer.SHA256, Value: base64.StdEncoding.EncodeToString(make([]byte, 32))}}, signer.ErrUnsupported},
		{"a short MD5 is refused", signer.UploadRequest{Key: "k", Expires: now.Add(time.Minute), Checksum: signer.Checksum{Algorithm: signer.MD5, Value: "AAAA"}}, nil},
		{"an expiry beyond seven days is refused", signer.UploadRequest{Key: "k", Expires: now.Add(gcs.MaxExpiry + time.Minute)}, nil},
		{"a content type with a newline is refused", signer.UploadRequest{Key: "k", ContentType: "text/plain\r\nX-Evil: 1", Expires: now.Add(time.Minute)}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.s.SignUpload(f.ctx, tc.req)
			if err == nil || (tc.is != nil && !errors.Is(err, tc.is)) {
				t.Fatalf("error %v, want one (wrapping %v)", err, tc.is)
			}
		})
	}
	if _, err := f.s.SignPostUpload(f.ctx, signer.UploadRequest{Key: "k", Expires: now.Add(time.Minute), Checksum: signer.Checksum{Algorithm: signer.MD5, Value: md5Of(nil)}}); !errors.Is(err, signer.ErrUnsupported) {
		t.Errorf("SignPostUpload with a checksum: %v, want ErrUnsupported", err)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	srv := gcstest.NewServer(t, "b")
	t.Setenv("STORAGE_EMULATOR_HOST", "")
	for _, tc := range []struct {
		name string
		cfg  gcs.Config
	}{
		{"no bucket", gcs.Config{CredentialsJSON: srv.CredentialsJSON}},
		{"both credential sources", gcs.Config{Bucket: "b", CredentialsJSON: srv.CredentialsJSON, CredentialsFile: "creds.json"}},
		{"an access ID that is not the key's", gcs.Config{Bucket: "b", CredentialsJSON: srv.CredentialsJSON, GoogleAccessID: "other@x.iam.gserviceaccount.com"}},
		{"an endpoint without a scheme", gcs.Config{Bucket: "b", CredentialsJSON: srv.CredentialsJSON, Endpoint: "localhost:4443"}},
		{"an unparsable key", gcs.Config{Bucket: "b", CredentialsJSON: []byte(`{"type":"service_account","client_email":"a@b","private_key":"nope"}`)}},
		{"credentials of an unknown type", gcs.Config{Bucket: "b", CredentialsJSON: []byte(`{"type":"api_key"}`)}},
		{"credentials that are not JSON", gcs.Config{Bucket: "b", CredentialsJSON: []byte(`type = service_account`)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if s, err := gcs.New(t.Context(), tc.cfg); err == nil {
				s.Close()
				t.Fatal("New succeeded")
			}
		})
	}
	t.Run("an emulator host without a host", func(t *testing.T) {
		t.Setenv("STORAGE_EMULATOR_HOST", "http://")
		if s, err := gcs.New(t.Context(), gcs.Config{Bucket: "b", CredentialsJSON: srv.CredentialsJSON}); err == nil {
			s.Close()
			t.Fatal("New succeeded")
		}
	})
}

// A PUT that declares no size but a limit binds the limit in the signed
// x-goog-content-length-range header, so the fake's verifier (as GCS)
// refuses a larger body, and a client cannot widen or drop the range.
func TestPutWithoutSizeBindsTheLimit(t *testing.T) {
	f := newFixture(t)
	const limit = 64
	sign := func(t *testing.T) signer.UploadTarget {
		target, err := f.s.SignUpload(f.ctx, signer.UploadRequest{
			Key:         "tenants/t1/releaseForms/" + strings.ReplaceAll(t.Name(), "/", "-") + ".pdf",
			ContentType: "application/pdf",
			MaxSize:     limit,
			Expires:     time.Now().Add(15 * time.Minute),
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := target.Headers["x-goog-content-length-range"]; got != "0,64" {
			t.Fatalf("headers %v, want x-goog-content-length-range 0,64", target.Headers)
		}
		return target
	}
	for _, tc := range []struct {
		name   string
		alter  func(tg *signer.UploadTarget, b *[]byte)
		status int
	}{
		{"a body within the limit is accepted", func(*signer.UploadTarget, *[]byte) {}, http.StatusOK},
		{"a body of exactly the limit is accepted", func(_ *signer.UploadTarget, b *[]byte) {
			*b = bytes.Repeat([]byte("x"), limit)
		}, http.StatusOK},
		{"a body one byte over the limit is refused", func(_ *signer.UploadTarget, b *[]byte) {
			*b = bytes.Repeat([]byte("x"), limit+1)
		}, http.StatusBadRequest},
		{"a widened range is refused", func(tg *signer.UploadTarget, b *[]byte) {
			tg.Headers["x-goog-content-length-range"] = "0,1000"
			*b = bytes.Repeat([]byte("x"), limit+1)
		}, http.StatusForbidden},
		{"a dropped range is refused", func(tg *signer.UploadTarget, b *[]byte) {
			delete(tg.Headers, "x-goog-content-length-range")
			*b = bytes.Repeat([]byte("x"), limit+1)
		}, http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := sign(t)
			b := []byte("%PDF-1.7 small form")
			tc.alter(&target, &b)
			if status, got := f.send(http.MethodPut, target.URL, target.Headers, b); status != tc.status {
				t.Fatalf("status %d, want %d; body %s", status, tc.status, got)
			}
		})
	}
	t.Run("a declared size binds no range", func(t *testing.T) {
		target, err := f.s.SignUpload(f.ctx, signer.UploadRequest{
			Key: "sized.pdf", ContentType: "application/pdf", Size: 10, MaxSize: limit, Expires: time.Now().Add(time.Minute),
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := target.Headers["x-goog-content-length-range"]; ok {
			t.Fatalf("headers %v bind a range for a declared size", target.Headers)
		}
	})
}
