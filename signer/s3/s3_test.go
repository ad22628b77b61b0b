package s3

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/presignd/presignd/signer"
)

// fixedNow is the clock of the unit tests.
var fixedNow = time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC)

func newTestSigner(t testing.TB, cfg Config) *Signer {
	t.Helper()
	if cfg.Bucket == "" {
		cfg.Bucket = "presignd-bucket"
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.AccessKeyID == "" {
		cfg.AccessKeyID, cfg.SecretAccessKey = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return fixedNow }
	}
	s, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	return s
}

func TestNewRefusesIncompleteConfig(t *testing.T) {
	ok := Config{Bucket: "b", Region: "us-east-1", AccessKeyID: "a", SecretAccessKey: "s"}
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"bucket is required", func(c *Config) { c.Bucket = "" }, "Bucket"},
		{"bucket with a slash is refused", func(c *Config) { c.Bucket = "a/b" }, "Bucket"},
		{"access key without secret is refused", func(c *Config) { c.SecretAccessKey = "" }, "SecretAccessKey"},
		{"secret without access key is refused", func(c *Config) { c.AccessKeyID = "" }, "AccessKeyID"},
		{"session token without keys is refused", func(c *Config) { c.AccessKeyID, c.SecretAccessKey, c.SessionToken = "", "", "t" }, "SessionToken"},
		{"endpoint without scheme is refused", func(c *Config) { c.Endpoint = "127.0.0.1:9000" }, "Endpoint"},
		{"endpoint with another scheme is refused", func(c *Config) { c.Endpoint = "ftp://x" }, "Endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.edit(&cfg)
			_, err := New(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: err = %v, want one naming %s", err, tt.want)
			}
		})
	}
	t.Run("region is required when the environment names none", func(t *testing.T) {
		t.Setenv("AWS_REGION", "")
		t.Setenv("AWS_DEFAULT_REGION", "")
		t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
		cfg := ok
		cfg.Region = ""
		_, err := New(context.Background(), cfg)
		if err == nil || !strings.Contains(err.Error(), "Region") {
			t.Fatalf("New: err = %v, want one naming Region", err)
		}
	})
}

func TestNewResolvesTheFastPresignerForCommonEndpoints(t *testing.T) {
	tests := []struct {
		name       string
		cfg        Config
		wantPrefix string
	}{
		{"AWS virtual host", Config{Region: "eu-west-1"}, "https://presignd-bucket.s3.eu-west-1.amazonaws.com/"},
		{"AWS path style", Config{Region: "eu-west-1", UsePathStyle: true}, "https://s3.eu-west-1.amazonaws.com/presignd-bucket/"},
		{"MinIO path style", Config{Endpoint: "http://127.0.0.1:9000", UsePathStyle: true}, "http://127.0.0.1:9000/presignd-bucket/"},
		{"custom host virtual style", Config{Endpoint: "https://objects.example.com"}, "https://presignd-bucket.objects.example.com/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestSigner(t, tt.cfg)
			if s.fast == nil {
				t.Fatal("fast presigner is off")
			}
			if s.fast.urlPrefix != tt.wantPrefix {
				t.Errorf("url prefix = %q, want %q", s.fast.urlPrefix, tt.wantPrefix)
			}
		})
	}
}

func TestSignUploadRefusesBadRequests(t *testing.T) {
	s := newTestSigner(t, Config{})
	sum := sha256.Sum256([]byte("x"))
	good := signer.UploadRequest{
		Key: "a/b.txt", ContentType: "text/plain", Size: 1, MaxSize: 10,
		Checksum: signer.Checksum{Algorithm: signer.SHA256, Value: base64.StdEncoding.EncodeToString(sum[:])},
		Expires:  fixedNow.Add(time.Minute),
	}
	tests := []struct {
		name string
		edit func(*signer.UploadRequest)
		is   error
		want string
	}{
		{"an empty key", func(r *signer.UploadRequest) { r.Key = "" }, signer.ErrInvalidKey, ""},
		{"a key with ..", func(r *signer.UploadRequest) { r.Key = "a/../b" }, signer.ErrInvalidKey, ""},
		{"a CRC32C checksum", func(r *signer.UploadRequest) {
			r.Checksum = signer.Checksum{Algorithm: signer.CRC32C, Value: "AAAAAA=="}
		}, signer.ErrUnsupported, ""},
		{"an unknown algorithm", func(r *signer.UploadRequest) { r.Checksum.Algorithm = "SHA1" }, signer.ErrUnsupported, ""},
		{"a SHA256 value that is not base64", func(r *signer.UploadRequest) { r.Checksum.Value = "not base64!" }, nil, "checksum"},
		{"an MD5 value of the wrong length", func(r *signer.UploadRequest) {
			r.Checksum = signer.Checksum{Algorithm: signer.MD5, Value: good.Checksum.Value}
		}, nil, "16-byte"},
		{"a content type with a newline", func(r *signer.UploadRequest) { r.ContentType = "text/plain\r\nX-Evil: 1" }, nil, "ContentType"},
		{"a disposition with non-ASCII", func(r *signer.UploadRequest) { r.ContentDisposition = "attachment; filename=\"é\"" }, nil, "ContentDisposition"},
		{"no expiry", func(r *signer.UploadRequest) { r.Expires = time.Time{} }, nil, "Expires"},
		{"an expiry in the past", func(r *signer.UploadRequest) { r.Expires = fixedNow.Add(-time.Second) }, nil, "Expires"},
		{"an expiry beyond seven days", func(r *signer.UploadRequest) { r.Expires = fixedNow.Add(MaxExpiry + time.Hour) }, signer.ErrUnsupported, ""},
		{"a size above the maximum", func(r *signer.UploadRequest) { r.Size = 11 }, nil, "MaxSize"},
		{"a negative size", func(r *signer.UploadRequest) { r.Size = -1 }, nil, "Size"},
	}
	for _, tt := range tests {
		t.Run("PUT refuses "+tt.name, func(t *testing.T) {
			req := good
			tt.edit(&req)
			_, err := s.SignUpload(context.Background(), req)
			checkErr(t, err, tt.is, tt.want)
		})
		t.Run("POST refuses "+tt.name, func(t *testing.T) {
			req := good
			req.Checksum = signer.Checksum{}
			tt.edit(&req)
			if req.Checksum != (signer.Checksum{}) {
				t.Skip("POST refuses every checksum; see below")
			}
			_, err := s.SignPostUpload(context.Background(), req)
			checkErr(t, err, tt.is, tt.want)
		})
	}
	t.Run("POST refuses a checksum it cannot bind", func(t *testing.T) {
		_, err := s.SignPostUpload(context.Background(), good)
		checkErr(t, err, signer.ErrUnsupported, "")
	})
	t.Run("POST refuses a missing MaxSize", func(t *testing.T) {
		req := good
		req.Checksum, req.MaxSize = signer.Checksum{}, 0
		_, err := s.SignPostUpload(context.Background(), req)
		checkErr(t, err, nil, "MaxSize")
	})
	t.Run("GET refuses a bad key", func(t *testing.T) {
		_, err := s.SignDownload(context.Background(), signer.DownloadRequest{Key: "/abs", Expires: fixedNow.Add(time.Minute)})
		checkErr(t, err, signer.ErrInvalidKey, "")
	})
	t.Run("GET refuses an expiry in the past", func(t *testing.T) {
		_, err := s.SignDownload(context.Background(), signer.DownloadRequest{Key: "k", Expires: fixedNow})
		checkErr(t, err, nil, "Expires")
	})
	t.Run("Stat and Delete refuse a bad key before any request", func(t *testing.T) {
		_, err := s.Stat(context.Background(), "a//b")
		checkErr(t, err, signer.ErrInvalidKey, "")
		checkErr(t, s.Delete(context.Background(), "a\x00b"), signer.ErrInvalidKey, "")
	})
}

func checkErr(t *testing.T, err, is error, want string) {
	t.Helper()
	switch {
	case err == nil:
		t.Fatal("err = nil, want an error")
	case is != nil && !errors.Is(err, is):
		t.Fatalf("err = %v, want one wrapping %v", err, is)
	case !strings.Contains(err.Error(), want):
		t.Fatalf("err = %v, want one mentioning %q", err, want)
	}
}

func TestSignUploadBindsHeadersAsSignedHeaders(t *testing.T) {
	s := newTestSigner(t, Config{Endpoint: "http://127.0.0.1:9000", UsePathStyle: true})
	md := md5.Sum([]byte("hello"))
	sh := sha256.Sum256([]byte("hello"))
	tests := []struct {
		name        string
		req         signer.UploadRequest
		wantSigned  string
		wantHeaders map[string]string
	}{
		{
			name:        "SHA256 binds x-amz-checksum-sha256, type and length",
			req:         signer.UploadRequest{Key: "k", ContentType: "text/plain", Size: 5, Checksum: signer.Checksum{Algorithm: signer.SHA256, Value: base64.StdEncoding.EncodeToString(sh[:])}},
			wantSigned:  "content-length;content-type;host;x-amz-checksum-sha256",
			wantHeaders: map[string]string{"Content-Type": "text/plain", "Content-Length": "5", "x-amz-checksum-sha256": base64.StdEncoding.EncodeToString(sh[:])},
		},
		{
			name:        "MD5 binds Content-MD5 and the disposition",
			req:         signer.UploadRequest{Key: "k", ContentType: "application/pdf", Size: 5, ContentDisposition: `attachment; filename="a.pdf"`, Checksum: signer.Checksum{Algorithm: signer.MD5, Value: base64.StdEncoding.EncodeToString(md[:])}},
			wantSigned:  "content-disposition;content-length;content-md5;content-type;host",
			wantHeaders: map[string]string{"Content-Type": "application/pdf", "Content-Length": "5", "Content-Disposition": `attachment; filename="a.pdf"`, "Content-MD5": base64.StdEncoding.EncodeToString(md[:])},
		},
		{
			name:        "a zero size leaves the length unbound",
			req:         signer.UploadRequest{Key: "k", ContentType: "text/plain"},
			wantSigned:  "content-type;host",
			wantHeaders: map[string]string{"Content-Type": "text/plain"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.Expires = fixedNow.Add(time.Hour)
			for name, sign := range map[string]func(context.Context, signer.UploadRequest, time.Time, int64) (signer.UploadTarget, error){
				"fast": s.fast.signUpload, "sdk": s.sdkSignUpload,
			} {
				target, err := sign(context.Background(), tt.req, fixedNow, 3600)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				u, err := url.Parse(target.URL)
				if err != nil {
					t.Fatal(err)
				}
				if got := u.Query().Get("X-Amz-SignedHeaders"); got != tt.wantSigned {
					t.Errorf("%s: X-Amz-SignedHeaders = %q, want %q", name, got, tt.wantSigned)
				}
				if fmt.Sprint(target.Headers) != fmt.Sprint(tt.wantHeaders) {
					t.Errorf("%s: Headers = %v, want %v", name, target.Headers, tt.wantHeaders)
				}
				if want := fixedNow.Truncate(time.Second).Add(time.Hour); !target.Expires.Equal(want) {
					t.Errorf("%s: Expires = %v, want %v", name, target.Expires, want)
				}
			}
		})
	}
}

func TestSignUploadCarriesTheExpiryAsWholeSeconds(t *testing.T) {
	s := newTestSigner(t, Config{})
	// fixedNow is 15:09:26.536; X-Amz-Date is 15:09:26, so 90.9 s later is
	// 91 whole seconds after the date but must not outlive the request.
	target, err := s.SignUpload(context.Background(), signer.UploadRequest{Key: "k", Expires: fixedNow.Add(90*time.Second + 400*time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(target.URL)
	if got := u.Query().Get("X-Amz-Expires"); got != "90" {
		t.Errorf("X-Amz-Expires = %s, want 90", got)
	}
	if want := time.Date(2026, 3, 14, 15, 10, 56, 0, time.UTC); !target.Expires.Equal(want) {
		t.Errorf("Expires = %v, want %v", target.Expires, want)
	}
}

func TestSignPostUploadPolicy(t *testing.T) {
	s := newTestSigner(t, Config{Endpoint: "http://127.0.0.1:9000", UsePathStyle: true})
	target, err := s.SignPostUpload(context.Background(), signer.UploadRequest{
		Key: "t/a b.pdf", ContentType: "application/pdf", Size: 3, MaxSize: 100,
		ContentDisposition: "inline", Expires: fixedNow.Add(5 * time.Minute),
	})
	if err != nil {
		t.Fatal(err)
	}
	if target.Method != "POST" || target.URL != "http://127.0.0.1:9000/presignd-bucket" {
		t.Errorf("Method, URL = %s %s", target.Method, target.URL)
	}
	policy, err := base64.StdEncoding.DecodeString(target.FormFields["policy"])
	if err != nil {
		t.Fatalf("policy: %v", err)
	}
	for _, want := range []string{
		`"expiration":"2026-03-14T15:14:26Z"`, `{"key":"t/a b.pdf"}`, `["content-length-range",1,100]`,
		`{"Content-Type":"application/pdf"}`, `{"Content-Disposition":"inline"}`, `{"bucket":"presignd-bucket"}`,
		`{"X-Amz-Date":"20260314T150926Z"}`,
	} {
		if !strings.Contains(string(policy), want) {
			t.Errorf("policy %s lacks %s", policy, want)
		}
	}
	for _, f := range []string{"key", "Content-Type", "Content-Disposition", "policy", "X-Amz-Signature", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Algorithm"} {
		if target.FormFields[f] == "" {
			t.Errorf("form field %s missing: %v", f, target.FormFields)
		}
	}
}

func TestStatHelpers(t *testing.T) {
	if got := etagMD5("5d41402abc4b2a76b9719d911017c592"); got != "XUFAKrxLKna5cZ2REBfFkg==" {
		t.Errorf("etagMD5 = %q", got)
	}
	for _, etag := range []string{"", "5d41402abc4b2a76b9719d911017c592-2", "zz41402abc4b2a76b9719d911017c592"} {
		if got := etagMD5(etag); got != "" {
			t.Errorf("etagMD5(%q) = %q, want empty", etag, got)
		}
	}
	s := newTestSigner(t, Config{Bucket: "media"})
	if got := s.StorageURI("t/a b.png"); got != "s3://media/t/a b.png" {
		t.Errorf("StorageURI = %q", got)
	}
}

// TestFastPresignerMatchesSDK is the proof that the hand-written presigner
// is the SDK's presigner: for many generated requests, endpoints, credentials
// and clocks, the URLs are equal byte for byte.
func TestFastPresignerMatchesSDK(t *testing.T) {
	configs := []Config{
		{Endpoint: "http://127.0.0.1:9000", UsePathStyle: true},
		{Endpoint: "http://localhost:9000"},
		{Endpoint: "https://objects.example.com:443", UsePathStyle: true},
		{Endpoint: "http://[::1]:9000", UsePathStyle: true},
		{Region: "eu-central-1"},
		{Region: "us-west-2", UsePathStyle: true, Bucket: "b.with.dots"},
		{Region: "ap-southeast-2", SessionToken: "FwoGZXIvYXdzE+/=token with spaces&more", AccessKeyID: "ASIAEXAMPLE", SecretAccessKey: "secret/+="},
	}
	clocks := []time.Time{
		fixedNow,
		time.Date(2024, 2, 29, 23, 59, 59, 999999999, time.UTC),
		time.Date(2031, 12, 31, 0, 0, 0, 0, time.FixedZone("X", -7*3600)),
	}
	rng := rand.New(rand.NewPCG(1, 2))
	n := 0
	for ci, cfg := range configs {
		s := newTestSigner(t, cfg)
		if s.fast == nil {
			t.Fatalf("config %d: fast presigner is off", ci)
		}
		for i := 0; i < 150; i++ {
			now := clocks[i%len(clocks)]
			up, down := randomRequests(rng, now)
			if signer.ValidateKey(up.Key) != nil {
				continue
			}
			secs, err := checkUpload(up, now)
			if err != nil {
				t.Fatalf("generated a bad request %+v: %v", up, err)
			}
			fast, err := s.fast.signUpload(context.Background(), up, now, secs)
			if err != nil {
				t.Fatal(err)
			}
			sdk, err := s.sdkSignUpload(context.Background(), up, now, secs)
			if err != nil {
				t.Fatal(err)
			}
			if fast.URL != sdk.URL || fmt.Sprint(fast) != fmt.Sprint(sdk) {
				t.Fatalf("config %d, PUT %+v at %v:\nfast %s\nsdk  %s", ci, up, now, fast.URL, sdk.URL)
			}
			secs, err = checkDownload(down, now)
			if err != nil {
				t.Fatalf("generated a bad request %+v: %v", down, err)
			}
			fastURL, err := s.fast.signDownload(context.Background(), down, now, secs)
			if err != nil {
				t.Fatal(err)
			}
			sdkURL, err := s.sdkSignDownload(context.Background(), down, now, secs)
			if err != nil {
				t.Fatal(err)
			}
			if fastURL != sdkURL {
				t.Fatalf("config %d, GET %+v at %v:\nfast %s\nsdk  %s", ci, down, now, fastURL, sdkURL)
			}
			n++
		}
	}
	t.Logf("%d PUT and %d GET URLs identical", n, n)
}

// keyRunes are the characters generated keys are made of: unreserved,
// reserved and sub-delims, spaces, percent, plus and unicode.
var keyRunes = []rune("abcXYZ019-_.~ !\"#$%&'()*+,:;<=>?@[]^`{|}/ üßé日本語😀\u00a0\u2028")

var contentTypes = []string{
	"", "text/plain", "text/plain; charset=utf-8", "application/pdf", "image/png",
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document",
	"multipart/form-data; boundary=  spaced  ", "  leading/and-trailing  ",
}

var dispositions = []string{
	"", "inline", `attachment; filename="report 2026.pdf"`,
	`attachment; filename*=UTF-8''na%C3%AFve%20file.txt`, `attachment;  filename="a  b"`,
	`form-data; name="x"; filename="a&b=c?.txt"`,
}

func randomRequests(rng *rand.Rand, now time.Time) (signer.UploadRequest, signer.DownloadRequest) {
	var key strings.Builder
	for n := 1 + rng.IntN(40); key.Len() < n; {
		key.WriteRune(keyRunes[rng.IntN(len(keyRunes))])
	}
	k := strings.Trim(strings.ReplaceAll(key.String(), "//", "/a/"), "/")
	if k == "" || k == "." || k == ".." {
		k = "x"
	}
	body := make([]byte, rng.IntN(64))
	for i := range body {
		body[i] = byte(rng.Uint32())
	}
	var sum signer.Checksum
	switch rng.IntN(3) {
	case 1:
		h := sha256.Sum256(body)
		sum = signer.Checksum{Algorithm: signer.SHA256, Value: base64.StdEncoding.EncodeToString(h[:])}
	case 2:
		h := md5.Sum(body)
		sum = signer.Checksum{Algorithm: signer.MD5, Value: base64.StdEncoding.EncodeToString(h[:])}
	}
	expires := now.Add(time.Duration(1+rng.Int64N(int64((MaxExpiry-2*time.Second)/time.Millisecond))) * time.Millisecond)
	up := signer.UploadRequest{
		Key:                k,
		ContentType:        contentTypes[rng.IntN(len(contentTypes))],
		Size:               int64(len(body)),
		MaxSize:            int64(len(body)) + rng.Int64N(100),
		Checksum:           sum,
		ContentDisposition: dispositions[rng.IntN(len(dispositions))],
		Expires:            expires.Add(time.Second),
	}
	down := signer.DownloadRequest{
		Key:                        k,
		ResponseContentDisposition: dispositions[rng.IntN(len(dispositions))],
		ResponseContentType:        contentTypes[rng.IntN(len(contentTypes))],
		Expires:                    expires.Add(time.Second),
	}
	return up, down
}

func TestSigningIsSafeForConcurrentUseAcrossDays(t *testing.T) {
	s := newTestSigner(t, Config{})
	days := []time.Time{fixedNow, fixedNow.Add(24 * time.Hour), fixedNow.Add(48 * time.Hour)}
	want := make([]string, len(days))
	for i, d := range days {
		target, err := s.sdkSignUpload(context.Background(), signer.UploadRequest{Key: "k", ContentType: "text/plain", Size: 1}, d, 60)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = target.URL
	}
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			for i := range 200 {
				d := (g + i) % len(days)
				got, err := s.fast.signUpload(context.Background(), signer.UploadRequest{Key: "k", ContentType: "text/plain", Size: 1}, days[d], 60)
				if err == nil && got.URL != want[d] {
					err = fmt.Errorf("day %d: got %s, want %s", d, got.URL, want[d])
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// TestUnreachableBackendIsUnavailable: a Stat or Delete that cannot reach
// S3, or that S3 answers with 5xx, wraps signer.ErrUnavailable; a refusal
// does not.
func TestUnreachableBackendIsUnavailable(t *testing.T) {
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	answering := func(status int) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	for _, tc := range []struct {
		name            string
		endpoint        string
		wantUnavailable bool
	}{
		{"nothing listens at the endpoint", down.URL, true},
		{"S3 answers 503", answering(http.StatusServiceUnavailable), true},
		{"S3 answers 403", answering(http.StatusForbidden), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestSigner(t, Config{Endpoint: tc.endpoint, UsePathStyle: true, Now: time.Now})
			_, statErr := s.Stat(t.Context(), "k")
			delErr := s.Delete(t.Context(), "k")
			for op, err := range map[string]error{"Stat": statErr, "Delete": delErr} {
				if err == nil || errors.Is(err, signer.ErrUnavailable) != tc.wantUnavailable {
					t.Errorf("%s: %v; wraps ErrUnavailable: %v, want %v", op, err, errors.Is(err, signer.ErrUnavailable), tc.wantUnavailable)
				}
			}
		})
	}
}

// A provider preset's limits are kept at signing time too: no POST form
// where the provider has no PostObject, no checksum it cannot bind.
func TestProviderLimits(t *testing.T) {
	s := newTestSigner(t, Config{Endpoint: "https://acct.r2.cloudflarestorage.com", Region: "auto", NoPostPolicy: true, Checksums: []string{signer.MD5}})
	req := benchUpload()
	for _, tc := range []struct {
		name string
		sign func() error
	}{
		{"a POST form is refused as unsupported", func() error {
			req := req
			req.Checksum = signer.Checksum{}
			_, err := s.SignPostUpload(context.Background(), req)
			return err
		}},
		{"a SHA256 checksum is refused as unsupported", func() error {
			_, err := s.SignUpload(context.Background(), req)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.sign(); !errors.Is(err, signer.ErrUnsupported) {
				t.Fatalf("error %v, want signer.ErrUnsupported", err)
			}
		})
	}
	req.Checksum = signer.Checksum{Algorithm: signer.MD5, Value: "XUFAKrxLKna5cZ2REBfFkg=="}
	if _, err := s.SignUpload(context.Background(), req); err != nil {
		t.Fatalf("an MD5 checksum: %v", err)
	}
}
