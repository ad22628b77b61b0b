package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/presignd/presignd/internal/testenv"
	"github.com/presignd/presignd/signer"
)

// These tests run against a real S3 server named by PRESIGND_TEST_S3_*
// (CI starts MinIO with .ci/minio.sh). Each test uses its own bucket.

// serverConfig returns the Config for the test server, or skips.
func serverConfig(t *testing.T) Config {
	t.Helper()
	endpoint := testenv.Get(t, "PRESIGND_TEST_S3_ENDPOINT", "source .ci/minio.sh and run minio_start to test against MinIO")
	region := os.Getenv("PRESIGND_TEST_S3_REGION")
	if region == "" {
		region = "us-east-1"
	}
	return Config{
		Endpoint:        endpoint,
		Region:          region,
		UsePathStyle:    true,
		AccessKeyID:     os.Getenv("PRESIGND_TEST_S3_ACCESS_KEY"),
		SecretAccessKey: os.Getenv("PRESIGND_TEST_S3_SECRET_KEY"),
	}
}

// newServerSigner returns a Signer on a fresh bucket of the test server;
// the bucket and its objects are removed when the test ends. edit, when not
// nil, adjusts the Config first.
func newServerSigner(t *testing.T, edit func(*Config)) *Signer {
	t.Helper()
	cfg := serverConfig(t)
	var b [6]byte
	rand.Read(b[:])
	cfg.Bucket = "presignd-test-" + hex.EncodeToString(b[:])
	if edit != nil {
		edit(&cfg)
	}
	ctx := context.Background()
	s, err := New(ctx, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if _, err := s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(cfg.Bucket)}); err != nil {
		t.Fatalf("create bucket %s: %v", cfg.Bucket, err)
	}
	t.Cleanup(func() { removeBucket(t, s.client, cfg.Bucket) })
	return s
}

func removeBucket(t *testing.T, c *s3.Client, bucket string) {
	ctx := context.Background()
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Errorf("list %s: %v", bucket, err)
			return
		}
		for _, o := range page.Contents {
			if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: o.Key}); err != nil {
				t.Errorf("delete %s/%s: %v", bucket, aws.ToString(o.Key), err)
			}
		}
	}
	if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Errorf("delete bucket %s: %v", bucket, err)
	}
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

// put sends body to target the way a client following it does, with the
// header values in override replacing (or, when empty, removing) the
// target's. It returns the status and S3's error code.
func put(t *testing.T, target signer.UploadTarget, body []byte, override map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(target.Method, target.URL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range target.Headers {
		req.Header.Set(k, v)
	}
	for k, v := range override {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	return send(t, req)
}

// post sends body as the file of an HTML-form POST to target, with form
// fields in override replacing the target's.
func post(t *testing.T, target signer.UploadTarget, body []byte, override map[string]string) (int, string) {
	t.Helper()
	var form bytes.Buffer
	w := multipart.NewWriter(&form)
	fields := map[string]string{}
	for k, v := range target.FormFields {
		fields[k] = v
	}
	for k, v := range override {
		fields[k] = v
	}
	for k, v := range fields {
		if err := w.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	fw, err := w.CreateFormFile("file", "upload.bin")
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(body)
	w.Close()
	req, err := http.NewRequest(http.MethodPost, target.URL, &form)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", w.FormDataContentType())
	return send(t, req)
}

func send(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", req.Method, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	code := ""
	if i := bytes.Index(b, []byte("<Code>")); i >= 0 {
		code = string(b[i+len("<Code>"):])
		code = code[:max(0, strings.Index(code, "</Code>"))]
	}
	return resp.StatusCode, code
}

func sha256Of(b []byte) signer.Checksum {
	h := sha256.Sum256(b)
	return signer.Checksum{Algorithm: signer.SHA256, Value: base64.StdEncoding.EncodeToString(h[:])}
}

func md5Of(b []byte) signer.Checksum {
	h := md5.Sum(b)
	return signer.Checksum{Algorithm: signer.MD5, Value: base64.StdEncoding.EncodeToString(h[:])}
}

func TestServerAcceptsAPutThatFollowsTheTarget(t *testing.T) {
	s := newServerSigner(t, nil)
	ctx := context.Background()
	body := []byte("%PDF-1.7 a release form")
	for _, tt := range []struct {
		name string
		key  string
		sum  signer.Checksum
	}{
		{"with SHA256", "tenants/acme/ünïcode key (1) & more+plus.pdf", sha256Of(body)},
		{"with MD5", "tenants/acme/md5 'quoted' ~tilde.pdf", md5Of(body)},
		{"with no checksum", "tenants/acme/plain.pdf", signer.Checksum{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			target, err := s.SignUpload(ctx, signer.UploadRequest{
				Key: tt.key, ContentType: "application/pdf", Size: int64(len(body)), MaxSize: 1 << 20,
				Checksum: tt.sum, ContentDisposition: `attachment; filename="form.pdf"`,
				Expires: time.Now().Add(time.Minute),
			})
			if err != nil {
				t.Fatal(err)
			}
			signed := mustQuery(t, target.URL).Get("X-Amz-SignedHeaders")
			for _, h := range []string{"content-type", "content-length", "content-disposition"} {
				if !strings.Contains(signed, h) {
					t.Errorf("X-Amz-SignedHeaders %q lacks %s", signed, h)
				}
			}
			switch tt.sum.Algorithm {
			case signer.SHA256:
				if !strings.Contains(signed, "x-amz-checksum-sha256") {
					t.Errorf("X-Amz-SignedHeaders %q lacks x-amz-checksum-sha256", signed)
				}
			case signer.MD5:
				if !strings.Contains(signed, "content-md5") {
					t.Errorf("X-Amz-SignedHeaders %q lacks content-md5", signed)
				}
			}
			if status, code := put(t, target, body, nil); status != http.StatusOK {
				t.Fatalf("PUT = %d %s, want 200", status, code)
			}
			info, err := s.Stat(ctx, tt.key)
			if err != nil {
				t.Fatal(err)
			}
			md := md5Of(body).Value
			if info.Size != int64(len(body)) || info.ContentType != "application/pdf" ||
				info.ETag != hex.EncodeToString(mustB64(t, md)) || info.Checksums[signer.MD5] != md {
				t.Errorf("Stat = %+v", info)
			}
			if tt.sum.Algorithm == signer.SHA256 && info.Checksums[signer.SHA256] != tt.sum.Value {
				t.Errorf("Stat checksums = %v, want SHA256 %s", info.Checksums, tt.sum.Value)
			}
			if time.Since(info.Modified) > time.Minute {
				t.Errorf("Stat Modified = %v", info.Modified)
			}
		})
	}
}

func TestServerRefusesAPutThatStraysFromTheTarget(t *testing.T) {
	s := newServerSigner(t, nil)
	ctx := context.Background()
	body := []byte("0123456789")
	for _, tt := range []struct {
		name     string
		sum      signer.Checksum
		send     []byte
		override map[string]string
		tamper   func(string) string
	}{
		{name: "another content type", override: map[string]string{"Content-Type": "text/html"}},
		{name: "no content type", override: map[string]string{"Content-Type": ""}},
		{name: "another disposition", override: map[string]string{"Content-Disposition": "inline"}},
		{name: "a body that does not match the SHA256", sum: sha256Of(body), send: []byte("0123456780")},
		{name: "a body that does not match the MD5", sum: md5Of(body), send: []byte("0123456780")},
		{name: "another SHA256 header", sum: sha256Of(body), override: map[string]string{"x-amz-checksum-sha256": sha256Of([]byte("x")).Value}},
		{name: "no MD5 header", sum: md5Of(body), override: map[string]string{"Content-MD5": ""}},
		{name: "more bytes than declared", send: []byte("0123456789ABCDEF")},
		{name: "fewer bytes than declared", send: []byte("01234")},
		{name: "a tampered signature", tamper: func(u string) string {
			i := strings.LastIndex(u, "=") + 1
			return u[:i] + strings.Repeat("0", len(u)-i)
		}},
		{name: "a URL turned to another key", tamper: func(u string) string { return strings.Replace(u, "/victim", "/other", 1) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			key := "victim-" + strings.ReplaceAll(tt.name, " ", "-")
			target, err := s.SignUpload(ctx, signer.UploadRequest{
				Key: key, ContentType: "application/pdf", Size: int64(len(body)), MaxSize: int64(len(body)),
				Checksum: tt.sum, ContentDisposition: "attachment", Expires: time.Now().Add(time.Minute),
			})
			if err != nil {
				t.Fatal(err)
			}
			if tt.tamper != nil {
				target.URL = tt.tamper(target.URL)
			}
			send := body
			if tt.send != nil {
				send = tt.send
			}
			status, code := put(t, target, send, tt.override)
			t.Logf("MinIO answered %d %s", status, code)
			if status < 400 || status >= 500 {
				t.Fatalf("PUT = %d %s, want a 4xx refusal", status, code)
			}
			if _, err := s.Stat(ctx, key); !errors.Is(err, signer.ErrNotFound) {
				t.Errorf("Stat after a refused PUT: err = %v, want ErrNotFound", err)
			}
		})
	}
}

func TestServerRefusesAnExpiredTarget(t *testing.T) {
	ctx := context.Background()
	t.Run("after a short TTL", func(t *testing.T) {
		s := newServerSigner(t, nil)
		fresh, err := s.SignUpload(ctx, signer.UploadRequest{Key: "there", ContentType: "text/plain", Size: 2, Expires: time.Now().Add(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		if status, code := put(t, fresh, []byte("hi"), nil); status != http.StatusOK {
			t.Fatalf("PUT = %d %s", status, code)
		}
		target, err := s.SignUpload(ctx, signer.UploadRequest{Key: "short", ContentType: "text/plain", Size: 2, Expires: time.Now().Add(1500 * time.Millisecond)})
		if err != nil {
			t.Fatal(err)
		}
		u, err := s.SignDownload(ctx, signer.DownloadRequest{Key: "there", Expires: time.Now().Add(1500 * time.Millisecond)})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Until(target.Expires) + 1100*time.Millisecond)
		status, code := put(t, target, []byte("hi"), nil)
		t.Logf("MinIO answered %d %s to an expired PUT", status, code)
		if status != http.StatusForbidden {
			t.Fatalf("expired PUT = %d %s, want 403", status, code)
		}
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		status, code = send(t, req)
		t.Logf("MinIO answered %d %s to an expired GET", status, code)
		if status != http.StatusForbidden {
			t.Fatalf("expired GET = %d %s, want 403", status, code)
		}
	})
	t.Run("signed on a clock ten minutes behind", func(t *testing.T) {
		s := newServerSigner(t, func(c *Config) { c.Now = func() time.Time { return time.Now().Add(-10 * time.Minute) } })
		target, err := s.SignUpload(ctx, signer.UploadRequest{Key: "late", ContentType: "text/plain", Size: 2, Expires: time.Now().Add(-9 * time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		if status, code := put(t, target, []byte("hi"), nil); status != http.StatusForbidden {
			t.Fatalf("expired PUT = %d %s, want 403", status, code)
		}
	})
}

func TestServerStatReportsTheRealSizeOfAnUnboundPut(t *testing.T) {
	// A declared size of 0 cannot be bound, so the PUT lands whatever its
	// length and Stat is how CompleteUpload notices.
	s := newServerSigner(t, nil)
	ctx := context.Background()
	target, err := s.SignUpload(ctx, signer.UploadRequest{Key: "empty.txt", ContentType: "text/plain", Size: 0, MaxSize: 1, Expires: time.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := target.Headers["Content-Length"]; ok {
		t.Errorf("Headers = %v bind a zero Content-Length", target.Headers)
	}
	body := bytes.Repeat([]byte("x"), 4096)
	if status, code := put(t, target, body, nil); status != http.StatusOK {
		t.Fatalf("PUT = %d %s", status, code)
	}
	info, err := s.Stat(ctx, "empty.txt")
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != int64(len(body)) {
		t.Errorf("Stat Size = %d, want %d", info.Size, len(body))
	}
}

func TestServerPostPolicy(t *testing.T) {
	s := newServerSigner(t, nil)
	ctx := context.Background()
	body := []byte("PNG....")
	sign := func(t *testing.T, key string) signer.UploadTarget {
		t.Helper()
		target, err := s.SignPostUpload(ctx, signer.UploadRequest{
			Key: key, ContentType: "image/png", Size: int64(len(body)), MaxSize: 10,
			ContentDisposition: `inline; filename="a.png"`, Expires: time.Now().Add(time.Minute),
		})
		if err != nil {
			t.Fatal(err)
		}
		return target
	}
	t.Run("accepts a form that follows the policy", func(t *testing.T) {
		target := sign(t, "post/ok é.png")
		if status, code := post(t, target, body, nil); status/100 != 2 {
			t.Fatalf("POST = %d %s, want 2xx", status, code)
		}
		info, err := s.Stat(ctx, "post/ok é.png")
		if err != nil {
			t.Fatal(err)
		}
		if info.Size != int64(len(body)) || info.ContentType != "image/png" {
			t.Errorf("Stat = %+v", info)
		}
	})
	for _, tt := range []struct {
		name     string
		body     []byte
		override map[string]string
	}{
		{name: "a file above MaxSize", body: bytes.Repeat([]byte("x"), 11)},
		{name: "an empty file", body: []byte{}},
		{name: "another content type", override: map[string]string{"Content-Type": "text/html"}},
		{name: "another disposition", override: map[string]string{"Content-Disposition": "attachment"}},
		{name: "another key", override: map[string]string{"key": "post/other.png"}},
		{name: "a tampered policy", override: map[string]string{"policy": base64.StdEncoding.EncodeToString([]byte(`{"expiration":"2099-01-01T00:00:00Z","conditions":[]}`))}},
		{name: "a tampered signature", override: map[string]string{"X-Amz-Signature": strings.Repeat("0", 64)}},
	} {
		t.Run("refuses "+tt.name, func(t *testing.T) {
			key := "post/" + strings.ReplaceAll(tt.name, " ", "-")
			target := sign(t, key)
			send := body
			if tt.body != nil {
				send = tt.body
			}
			status, code := post(t, target, send, tt.override)
			t.Logf("MinIO answered %d %s", status, code)
			if status < 400 || status >= 500 {
				t.Fatalf("POST = %d %s, want a 4xx refusal", status, code)
			}
			for _, k := range []string{key, "post/other.png"} {
				if _, err := s.Stat(ctx, k); !errors.Is(err, signer.ErrNotFound) {
					t.Errorf("Stat(%s) after a refused POST: err = %v, want ErrNotFound", k, err)
				}
			}
		})
	}
	t.Run("refuses an expired policy", func(t *testing.T) {
		late := newServerSigner(t, func(c *Config) { c.Now = func() time.Time { return time.Now().Add(-10 * time.Minute) } })
		target, err := late.SignPostUpload(ctx, signer.UploadRequest{Key: "late.png", ContentType: "image/png", Size: 3, MaxSize: 10, Expires: time.Now().Add(-9 * time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		status, code := post(t, target, []byte("abc"), nil)
		t.Logf("MinIO answered %d %s", status, code)
		if status != http.StatusForbidden {
			t.Fatalf("POST = %d %s, want 403", status, code)
		}
	})
}

func TestServerDownloadStatDelete(t *testing.T) {
	s := newServerSigner(t, nil)
	ctx := context.Background()
	key := "dl/naïve file #1.txt"
	body := []byte("hello, world")
	target, err := s.SignUpload(ctx, signer.UploadRequest{Key: key, ContentType: "text/plain", Size: int64(len(body)), Expires: time.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if status, code := put(t, target, body, nil); status != http.StatusOK {
		t.Fatalf("PUT = %d %s", status, code)
	}
	u, err := s.SignDownload(ctx, signer.DownloadRequest{
		Key: key, ResponseContentDisposition: `attachment; filename="naive file.txt"`,
		ResponseContentType: "application/octet-stream", Expires: time.Now().Add(time.Minute),
	})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := httpClient.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, body) ||
		resp.Header.Get("Content-Disposition") != `attachment; filename="naive file.txt"` ||
		resp.Header.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("GET = %d %q, headers %v", resp.StatusCode, got, resp.Header)
	}
	if err := s.Delete(ctx, key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.Stat(ctx, key); !errors.Is(err, signer.ErrNotFound) {
		t.Errorf("Stat after Delete: err = %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, key); err != nil {
		t.Errorf("Delete of a missing object: %v", err)
	}
	if got := s.StorageURI(key); got != "s3://"+s.bucket+"/"+key {
		t.Errorf("StorageURI = %s", got)
	}
}

func mustQuery(t *testing.T, raw string) url.Values {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

func mustB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
