package azure

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/presignd/presignd/signer"
)

func TestNewRefusesBadConfig(t *testing.T) {
	good := Config{Account: DevAccount, AccountKey: DevKey, Container: "files"}
	cases := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"a missing account is refused", func(c *Config) { c.Account = "" }, "Account"},
		{"a missing key is refused", func(c *Config) { c.AccountKey = "" }, "AccountKey"},
		{"a key that is not base64 is refused", func(c *Config) { c.AccountKey = "not base64!" }, "AccountKey"},
		{"a missing container is refused", func(c *Config) { c.Container = "" }, "Container"},
		{"an upper-case container is refused", func(c *Config) { c.Container = "Files" }, "Container"},
		{"a container with a slash is refused", func(c *Config) { c.Container = "a/b" }, "Container"},
		{"a container with two hyphens in a row is refused", func(c *Config) { c.Container = "a--b" }, "Container"},
		{"an endpoint that is not http(s) is refused", func(c *Config) { c.Endpoint = "ftp://x" }, "Endpoint"},
		{"an endpoint with a query is refused", func(c *Config) { c.Endpoint = "https://x/?sig=1" }, "Endpoint"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.edit(&cfg)
			if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: error %v, want one naming %s", err, tc.want)
			}
		})
	}
	if _, err := New(good); err != nil {
		t.Errorf("New(good): %v", err)
	}
}

// fixedSigner signs at a fixed time against Azure's default endpoint.
func fixedSigner(t *testing.T) (*Signer, time.Time) {
	t.Helper()
	now := time.Date(2026, 12, 7, 12, 0, 0, 500e6, time.UTC)
	s, err := New(Config{Account: DevAccount, AccountKey: DevKey, Container: "files", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return s, now
}

func TestSignUploadBindsCreateOnlyOnOneBlob(t *testing.T) {
	s, now := fixedSigner(t)
	target, err := s.SignUpload(t.Context(), signer.UploadRequest{
		Key: "a b/ü+x.png", ContentType: "image/png", ContentDisposition: `inline; filename="x.png"`,
		Size: 10, MaxSize: 100, Checksum: signer.Checksum{Algorithm: signer.MD5, Value: md5Of([]byte("0123456789"))},
		Expires: now.Add(90*time.Second + 700*time.Millisecond),
	})
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(target.URL)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := u.EscapedPath(), "/files/a%20b/%C3%BC+x.png"; got != want {
		t.Errorf("path = %q, want %q", got, want)
	}
	if u.Host != DevAccount+".blob.core.windows.net" || u.Scheme != "https" {
		t.Errorf("URL %s, want https on the account's host", target.URL)
	}
	q := u.Query()
	want := map[string]string{"sp": "c", "sr": "b", "spr": "https", "se": "2026-12-07T12:01:31Z"}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("query %s = %q, want %q", k, q.Get(k), v)
		}
	}
	if !target.Expires.Equal(time.Date(2026, 12, 7, 12, 1, 31, 0, time.UTC)) {
		t.Errorf("Expires = %v, want the expiry truncated to the second", target.Expires)
	}
	for k, v := range map[string]string{
		"x-ms-blob-type": "BlockBlob", "Content-Type": "image/png",
		"x-ms-blob-content-disposition": `inline; filename="x.png"`, "Content-MD5": md5Of([]byte("0123456789")),
	} {
		if target.Headers[k] != v {
			t.Errorf("Headers[%s] = %q, want %q", k, target.Headers[k], v)
		}
	}
}

func TestSignDownloadSignsResponseOverrides(t *testing.T) {
	s, now := fixedSigner(t)
	raw, err := s.SignDownload(t.Context(), signer.DownloadRequest{
		Key: "k", ResponseContentDisposition: `attachment; filename="r.pdf"`, ResponseContentType: "application/pdf",
		Expires: now.Add(time.Minute),
	})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(raw)
	q := u.Query()
	for k, v := range map[string]string{"sp": "r", "sr": "b", "rscd": `attachment; filename="r.pdf"`, "rsct": "application/pdf"} {
		if q.Get(k) != v {
			t.Errorf("query %s = %q, want %q", k, q.Get(k), v)
		}
	}
}

func TestSignRefusesWhatItCannotBind(t *testing.T) {
	s, now := fixedSigner(t)
	ok := signer.UploadRequest{Key: "k", ContentType: "image/png", Size: 1, Expires: now.Add(time.Minute)}
	cases := []struct {
		name    string
		edit    func(*signer.UploadRequest)
		wantErr error
	}{
		{"a SHA256 checksum is unsupported", func(r *signer.UploadRequest) { r.Checksum = signer.Checksum{Algorithm: signer.SHA256, Value: "x"} }, signer.ErrUnsupported},
		{"a CRC32C checksum is unsupported", func(r *signer.UploadRequest) { r.Checksum = signer.Checksum{Algorithm: signer.CRC32C, Value: "x"} }, signer.ErrUnsupported},
		{"an expiry beyond a week is unsupported", func(r *signer.UploadRequest) { r.Expires = now.Add(8 * 24 * time.Hour) }, signer.ErrUnsupported},
		{"a bad key is invalid", func(r *signer.UploadRequest) { r.Key = "../x" }, signer.ErrInvalidKey},
		{"an MD5 that is not a digest is refused", func(r *signer.UploadRequest) { r.Checksum = signer.Checksum{Algorithm: signer.MD5, Value: "abc"} }, nil},
		{"an expiry in the past is refused", func(r *signer.UploadRequest) { r.Expires = now.Add(-time.Second) }, nil},
		{"a content type with a newline is refused", func(r *signer.UploadRequest) { r.ContentType = "image/png\r\nx-ms-blob-type: PageBlob" }, nil},
		{"a size above MaxSize is refused", func(r *signer.UploadRequest) { r.Size, r.MaxSize = 10, 5 }, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := ok
			tc.edit(&req)
			_, err := s.SignUpload(t.Context(), req)
			if err == nil {
				t.Fatal("SignUpload succeeded")
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("SignUpload: %v, want one wrapping %v", err, tc.wantErr)
			}
		})
	}
}
