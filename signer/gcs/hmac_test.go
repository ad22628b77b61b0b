package gcs_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go/encoding/httpbinding"
	"github.com/aws/smithy-go/logging"

	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/signer/gcs"
	"github.com/presignd/presignd/signer/gcs/gcstest"
	"github.com/presignd/presignd/signer/signertest"
)

// newHMACSigner returns a Signer pointed at srv that signs with srv's HMAC
// key in region ("" for auto); its JSON API calls go through srv.Client as
// they are.
func newHMACSigner(t testing.TB, srv *gcstest.Server, virtualHost bool, region string, now func() time.Time) *gcs.Signer {
	t.Helper()
	s, err := gcs.New(context.Background(), gcs.Config{
		Bucket:           srv.Bucket,
		HMACAccessID:     srv.HMACAccessID,
		HMACSecret:       srv.HMACSecret,
		HMACRegion:       region,
		Endpoint:         srv.URL,
		VirtualHostStyle: virtualHost,
		HTTPClient:       srv.Client(),
		Now:              now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformanceWithHMACKey(t *testing.T) {
	t.Setenv("STORAGE_EMULATOR_HOST", "")
	for _, style := range []struct {
		name        string
		virtualHost bool
		region      string
	}{{"path style, region auto", false, ""}, {"virtual-host style, the bucket's region", true, gcstest.DefaultLocation}} {
		t.Run(style.name, func(t *testing.T) {
			signertest.Run(t, func(t *testing.T) signertest.Harness {
				srv := gcstest.NewServer(t, "presignd-conformance")
				return &harness{srv: srv, s: newHMACSigner(t, srv, style.virtualHost, style.region, nil)}
			})
		})
	}
}

// The verifying fake refuses an HMAC-signed PUT that was altered, signed
// with another secret or region, or used after it expired, as GCS does.
func TestHMACVerifierRefusesAlteredAndExpiredRequests(t *testing.T) {
	t.Setenv("STORAGE_EMULATOR_HOST", "")
	srv := gcstest.NewServer(t, "presignd-test")
	s := newHMACSigner(t, srv, false, "", nil)
	defer s.Close()
	body := []byte("%PDF-1.7 release form")
	req := signer.UploadRequest{
		ContentType: "application/pdf",
		Checksum:    signer.Checksum{Algorithm: signer.MD5, Value: md5Of(body)},
		Expires:     time.Now().Add(time.Minute),
	}
	send := func(t *testing.T, target signer.UploadTarget, b []byte) int {
		t.Helper()
		r, err := http.NewRequestWithContext(t.Context(), target.Method, target.URL, bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range target.Headers {
			r.Header.Set(k, v)
		}
		resp, err := srv.Client().Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	setQuery := func(raw, name, value string) string {
		u, _ := url.Parse(raw)
		q := u.Query()
		q.Set(name, value)
		u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
		return u.String()
	}
	for _, tc := range []struct {
		name   string
		signer func(t *testing.T) *gcs.Signer
		alter  func(tg *signer.UploadTarget)
		now    func(tg signer.UploadTarget) time.Time
		status int
	}{
		{name: "the untouched request is accepted", status: http.StatusOK},
		{name: "a flipped signature digit is refused", alter: func(tg *signer.UploadTarget) {
			i := strings.Index(tg.URL, "X-Goog-Signature=") + len("X-Goog-Signature=") + 7
			c := byte('0')
			if tg.URL[i] == '0' {
				c = '1'
			}
			tg.URL = tg.URL[:i] + string(c) + tg.URL[i+1:]
		}, status: http.StatusForbidden},
		{name: "another Content-Type is refused", alter: func(tg *signer.UploadTarget) { tg.Headers["Content-Type"] = "text/html" }, status: http.StatusForbidden},
		{name: "a longer X-Goog-Expires is refused", alter: func(tg *signer.UploadTarget) { tg.URL = setQuery(tg.URL, "X-Goog-Expires", "3600") }, status: http.StatusForbidden},
		{name: "the RSA algorithm named over an HMAC signature is refused", alter: func(tg *signer.UploadTarget) {
			tg.URL = setQuery(tg.URL, "X-Goog-Algorithm", "GOOG4-RSA-SHA256")
		}, status: http.StatusForbidden},
		{name: "a signature under another secret is refused", signer: func(t *testing.T) *gcs.Signer {
			s, err := gcs.New(t.Context(), gcs.Config{Bucket: srv.Bucket, HMACAccessID: srv.HMACAccessID, HMACSecret: srv.HMACSecret + "x", Endpoint: srv.URL, HTTPClient: srv.Client()})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}, status: http.StatusForbidden},
		{name: "a region that is neither auto nor the bucket's is refused", signer: func(t *testing.T) *gcs.Signer {
			return newHMACSigner(t, srv, false, "europe-west1", nil)
		}, status: http.StatusForbidden},
		{name: "a URL used at its expiry is refused", now: func(tg signer.UploadTarget) time.Time { return tg.Expires }, status: http.StatusForbidden},
		{name: "a URL used a second before its expiry is accepted", now: func(tg signer.UploadTarget) time.Time { return tg.Expires.Add(-time.Second) }, status: http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sg := s
			if tc.signer != nil {
				sg = tc.signer(t)
				defer sg.Close()
			}
			r := req
			r.Key = "hmac/" + strings.ReplaceAll(tc.name, " ", "-")
			target, err := sg.SignUpload(t.Context(), r)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(target.URL, "X-Goog-Algorithm=GOOG4-HMAC-SHA256") {
				t.Fatalf("URL %s is not signed GOOG4-HMAC-SHA256", target.URL)
			}
			if tc.alter != nil {
				tc.alter(&target)
			}
			srv.SetNow(time.Now)
			if tc.now != nil {
				at := tc.now(target)
				srv.SetNow(func() time.Time { return at })
			}
			if got := send(t, target, body); got != tc.status {
				t.Fatalf("status %d, want %d", got, tc.status)
			}
		})
	}
}

// An HMAC-signed POST policy is accepted by the verifying fake, and refused
// with a tampered policy.
func TestHMACPostPolicy(t *testing.T) {
	t.Setenv("STORAGE_EMULATOR_HOST", "")
	srv := gcstest.NewServer(t, "presignd-test")
	s := newHMACSigner(t, srv, false, "", nil)
	defer s.Close()
	target, err := s.SignPostUpload(t.Context(), signer.UploadRequest{
		Key: "posted/hmac.txt", ContentType: "text/plain", Size: 5, MaxSize: 10, Expires: time.Now().Add(time.Minute),
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := target.FormFields["x-goog-algorithm"]; got != "GOOG4-HMAC-SHA256" {
		t.Fatalf("x-goog-algorithm %q", got)
	}
	for _, tc := range []struct {
		name   string
		alter  func(map[string]string)
		status int
	}{
		{"the form as signed is accepted", func(map[string]string) {}, http.StatusNoContent},
		{"a policy with one character changed is refused", func(f map[string]string) {
			p := []byte(f["policy"])
			p[10] ^= 1
			f["policy"] = string(p)
		}, http.StatusForbidden},
		{"another credential is refused", func(f map[string]string) {
			f["x-goog-credential"] = strings.Replace(f["x-goog-credential"], srv.HMACAccessID, "GOOG1OTHER", 1)
		}, http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fields := make(map[string]string, len(target.FormFields))
			for k, v := range target.FormFields {
				fields[k] = v
			}
			tc.alter(fields)
			resp, err := signertest.Upload(t.Context(), srv.Client(), signer.UploadTarget{Method: http.MethodPost, URL: target.URL, FormFields: fields}, []byte("hello"))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
		})
	}
}

// hmacInput is one generated signing request.
type hmacInput struct {
	key, contentType, disposition, checksum string
	download                                bool
	at                                      time.Time
	secs                                    int64
}

// sdkExpectedURL is the URL GOOG4-HMAC-SHA256 gives in, made independently
// of the gcs package: aws-sdk-go-v2's SigV4 presigner builds the canonical
// request (its own path and query escaping, header canonicalisation and
// signed-header list), the X-Amz-* parameters it adds for itself are taken
// out of it, and the string-to-sign and signature follow GCS's
// documentation with GCS's scope and "GOOG4" key prefix.
func sdkExpectedURL(t testing.TB, endpoint, bucket, accessID, secret string, in hmacInput) string {
	t.Helper()
	stamp := in.at.UTC().Format("20060102T150405Z")
	day := stamp[:8]
	host := strings.TrimPrefix(endpoint, "https://")
	method := http.MethodPut
	headers := map[string]string{}
	q := url.Values{}
	if in.download {
		method = http.MethodGet
		if in.disposition != "" {
			q.Set("response-content-disposition", in.disposition)
		}
	} else {
		if in.contentType != "" {
			headers["content-type"] = in.contentType
		}
		if in.disposition != "" {
			headers["content-disposition"] = in.disposition
		}
		if in.checksum != "" {
			headers["content-md5"] = in.checksum
		}
	}
	names := []string{"host"}
	for n := range headers {
		names = append(names, n)
	}
	sort.Strings(names)
	q.Set("X-Goog-Algorithm", "GOOG4-HMAC-SHA256")
	q.Set("X-Goog-Credential", accessID+"/"+day+"/auto/storage/goog4_request")
	q.Set("X-Goog-Date", stamp)
	q.Set("X-Goog-Expires", strconv.FormatInt(in.secs, 10))
	q.Set("X-Goog-SignedHeaders", strings.Join(names, ";"))
	path := httpbinding.EscapePath("/"+bucket+"/"+in.key, false)
	req, err := http.NewRequest(method, endpoint+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.URL.Opaque = "//" + host + path
	req.URL.RawQuery = q.Encode()
	for n, v := range headers {
		req.Header.Set(n, v)
	}
	var canonical string
	logger := logging.LoggerFunc(func(_ logging.Classification, _ string, v ...any) {
		if len(v) > 0 {
			canonical, _ = v[0].(string)
		}
	})
	_, _, err = v4.NewSigner().PresignHTTP(context.Background(), aws.Credentials{AccessKeyID: "unused", SecretAccessKey: "unused"},
		req, "UNSIGNED-PAYLOAD", "storage", "auto", in.at, func(o *v4.SignerOptions) {
			o.DisableURIPathEscaping = true
			o.LogSigning = true
			o.Logger = logger
		})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(canonical, "\n")
	if len(lines) < 6 {
		t.Fatalf("the SDK logged no canonical request: %q", canonical)
	}
	var kept []string
	for _, p := range strings.Split(lines[2], "&") {
		if !strings.HasPrefix(p, "X-Amz-") {
			kept = append(kept, p)
		}
	}
	lines[2] = strings.Join(kept, "&")
	if sh := lines[len(lines)-2]; sh != strings.Join(names, ";") {
		t.Fatalf("the SDK signed headers %q, want %q", sh, strings.Join(names, ";"))
	}
	canonical = strings.Join(lines, "\n")
	sum := sha256.Sum256([]byte(canonical))
	sts := "GOOG4-HMAC-SHA256\n" + stamp + "\n" + day + "/auto/storage/goog4_request\n" + hex.EncodeToString(sum[:])
	mac := func(key []byte, data string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(data))
		return m.Sum(nil)
	}
	k := mac(mac(mac(mac([]byte("GOOG4"+secret), day), "auto"), "storage"), "goog4_request")
	return endpoint + path + "?" + lines[2] + "&X-Goog-Signature=" + hex.EncodeToString(mac(k, sts))
}

// signHMAC signs in with s (whose clock is at in.at).
func signHMAC(t testing.TB, s *gcs.Signer, in hmacInput) (string, bool) {
	t.Helper()
	exp := in.at.Add(time.Duration(in.secs) * time.Second)
	if in.download {
		u, err := s.SignDownload(context.Background(), signer.DownloadRequest{Key: in.key, ResponseContentDisposition: in.disposition, Expires: exp})
		return u, err == nil
	}
	req := signer.UploadRequest{Key: in.key, ContentType: in.contentType, ContentDisposition: in.disposition, Expires: exp}
	if in.checksum != "" {
		req.Checksum = signer.Checksum{Algorithm: signer.MD5, Value: in.checksum}
	}
	tg, err := s.SignUpload(context.Background(), req)
	return tg.URL, err == nil
}

// compareHMAC checks that the signer and the SDK-built reference agree on
// in byte for byte; inputs the signer refuses (an invalid key) or where
// the two canonicalisations are documented to differ are skipped.
func compareHMAC(t testing.TB, in hmacInput) bool {
	const (
		endpoint = "https://storage.googleapis.com"
		bucket   = "presignd-hmac"
		id       = "GOOG1EXAMPLEACCESSID"
		secret   = "bGoa+V7g/yqDXvKRqq+JTFn4uQZbPiQJo4pf9RzJ"
	)
	if signer.ValidateKey(in.key) != nil {
		return false
	}
	for _, v := range []string{in.contentType, in.disposition} {
		// GCS folds every white space run, SigV4 only spaces; and
		// presignd drops a blank disposition from the signed headers.
		if strings.ContainsAny(v, "\t\r\n\v\f") || strings.TrimSpace(v) == "" && v != "" {
			return false
		}
		for _, c := range []byte(v) {
			if c < 0x20 || c >= 0x7f {
				return false
			}
		}
	}
	at := in.at
	s, err := gcs.New(context.Background(), gcs.Config{
		Bucket: bucket, HMACAccessID: id, HMACSecret: secret, Endpoint: endpoint,
		HTTPClient: http.DefaultClient, Now: func() time.Time { return at },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, ok := signHMAC(t, s, in)
	if !ok {
		return false
	}
	if want := sdkExpectedURL(t, endpoint, bucket, id, secret, in); got != want {
		t.Fatalf("for %+v\n got: %s\nwant: %s", in, got, want)
	}
	return true
}

// randomText is n characters drawn from alphabet.
func randomText(r *rand.Rand, alphabet string, n int) string {
	chars := []rune(alphabet)
	b := make([]rune, n)
	for i := range b {
		b[i] = chars[r.IntN(len(chars))]
	}
	return string(b)
}

// HMAC URLs agree byte for byte with the SDK-built reference on generated
// keys (every printable ASCII byte and UTF-8), content types,
// dispositions, checksums, instants and lifetimes.
func TestHMACAgreesWithSDKCanonicalRequest(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 2026))
	keyChars := "abcXYZ019-._~/!$&'()*+,;=:@ %?#[]\"<>{}|^`é日"
	textChars := "abc XYZ 019-._~/!$&'()*+,;=:@%?#[]\"<>{}|^`\\"
	compared := 0
	for i := 0; i < 2000; i++ {
		in := hmacInput{
			key:      randomText(r, keyChars, 1+r.IntN(40)),
			download: r.IntN(3) == 0,
			at:       time.Date(2020+r.IntN(8), time.Month(1+r.IntN(12)), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), 0, time.UTC),
			secs:     1 + r.Int64N(604800),
		}
		if r.IntN(2) == 0 {
			in.contentType = randomText(r, textChars, r.IntN(30))
		}
		if r.IntN(2) == 0 {
			in.disposition = randomText(r, textChars, r.IntN(30))
		}
		if r.IntN(2) == 0 {
			in.checksum = md5Of([]byte(fmt.Sprint(i)))
		}
		if compareHMAC(t, in) {
			compared++
		}
	}
	if compared < 1000 {
		t.Fatalf("only %d of 2000 generated inputs were compared", compared)
	}
	t.Logf("%d generated inputs agree byte for byte", compared)
}

func FuzzHMACAgreesWithSDKCanonicalRequest(f *testing.F) {
	f.Add("tenants/t1/a b+c.pdf", "application/pdf", `attachment; filename="a b.pdf"`, true, false, int64(1700000000), int64(900))
	f.Add("日本/é?#", "", "", false, true, int64(1600000000), int64(604800))
	f.Fuzz(func(t *testing.T, key, contentType, disposition string, withMD5, download bool, unix, secs int64) {
		if unix < 0 || unix > 4102444800 || secs < 1 || secs > 604800 {
			t.Skip()
		}
		in := hmacInput{key: key, contentType: contentType, disposition: disposition, download: download,
			at: time.Unix(unix, 0).UTC(), secs: secs}
		if withMD5 {
			in.checksum = md5Of([]byte(key))
		}
		compareHMAC(t, in)
	})
}
