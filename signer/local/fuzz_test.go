package local

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/presignd/presignd/signer"
)

// FuzzAuthorizeQuery feeds arbitrary methods, paths and queries to the
// verifier and to the handler. Neither may panic, and a request may only be
// accepted if it carries exactly the values of a grant the Signer signed.
func FuzzAuthorizeQuery(f *testing.F) {
	now := time.Unix(1_700_000_000, 0)
	s, err := New(Config{
		Dir:     f.TempDir(),
		BaseURL: "http://presignd.test",
		Secret:  []byte("fuzz-secret-fuzz-secret-fuzz-secret!"),
		Now:     func() time.Time { return now },
	})
	if err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	signed := make(map[string]bool)
	seed := func(method, rawURL string) {
		u, err := url.Parse(rawURL)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(method, u.Path, u.RawQuery)
		if g, err := s.authorizeQuery(method, u.Path, u.RawQuery); err == nil {
			signed[string(g.canonical(nil))] = true
		}
	}
	exp := now.Add(time.Hour)
	uploads := []signer.UploadRequest{
		{Key: "a/b.png", ContentType: "image/png", MaxSize: 1 << 20, Expires: exp,
			Checksum: signer.Checksum{Algorithm: signer.SHA256, Value: "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="}, ContentDisposition: `attachment; filename="b.png"`},
		{Key: "k", Expires: exp},
		{Key: "sp ace/ü/%2e%2e/q?#", ContentType: "text/plain", Size: 10, Expires: exp,
			Checksum: signer.Checksum{Algorithm: signer.CRC32C, Value: "AAAAAA=="}},
		{Key: "expired", Expires: now.Add(-time.Second)},
	}
	for _, req := range uploads {
		target, err := s.SignUpload(ctx, req)
		if err != nil {
			f.Fatal(err)
		}
		seed(http.MethodPut, target.URL)
		seed(http.MethodGet, target.URL)
	}
	for _, req := range []signer.DownloadRequest{
		{Key: "a/b.png", Expires: exp},
		{Key: "a/b.png", Expires: exp, ResponseContentType: "application/pdf", ResponseContentDisposition: "inline"},
	} {
		u, err := s.SignDownload(ctx, req)
		if err != nil {
			f.Fatal(err)
		}
		seed(http.MethodGet, u)
		seed(http.MethodHead, u)
		seed(http.MethodPut, u)
	}
	f.Add("PUT", "/local/../meta/k", "method=PUT&expires=1700003600&signature=AAAA")
	f.Add("PUT", "/local/a%00b", "")
	f.Add("GET", "/local/k", "method=GET;expires=1&&&=&signature")
	f.Add("POST", "/local/", "")
	f.Add("OPTIONS", "/local/x", "")

	f.Fuzz(func(t *testing.T, method, path, rawQuery string) {
		g, err := s.authorizeQuery(method, path, rawQuery)
		if err != nil {
			if _, ok := errorsAsAuth(err); !ok {
				t.Fatalf("authorizeQuery returned a non-refusal error: %v", err)
			}
		} else {
			if !signed[string(g.canonical(nil))] {
				t.Fatalf("accepted an unsigned grant %+v", *g)
			}
			if signer.ValidateKey(g.key) != nil || !strings.HasPrefix(path, s.prefix) {
				t.Fatalf("accepted key %q from path %q", g.key, path)
			}
			if method != g.method && !(method == http.MethodHead && g.method == http.MethodGet) {
				t.Fatalf("accepted %s for a grant signed for %s", method, g.method)
			}
			if !now.Before(time.Unix(g.expires, 0)) {
				t.Fatal("accepted an expired grant")
			}
		}

		req := &http.Request{
			Method:     method,
			URL:        &url.URL{Path: path, RawQuery: rawQuery},
			Proto:      "HTTP/1.1",
			ProtoMajor: 1,
			ProtoMinor: 1,
			Header:     make(http.Header),
			Body:       http.NoBody,
			Host:       "presignd.test",
			RequestURI: path,
		}
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		if rec.Code >= 200 && rec.Code < 300 && method != http.MethodOptions && err != nil {
			t.Fatalf("handler answered %d to a request the verifier refused (%v)", rec.Code, err)
		}
	})
}

// FuzzAuthorizePart feeds arbitrary methods, paths and queries to the part
// target verifier and to the handler. Neither may panic, and a part may
// only be accepted if it carries exactly the values of a part grant the
// Signer signed, with a well-formed upload id and a part number in range.
func FuzzAuthorizePart(f *testing.F) {
	now := time.Unix(1_700_000_000, 0)
	dir := f.TempDir()
	s, err := New(Config{
		Dir:         dir,
		BaseURL:     "http://presignd.test",
		Secret:      []byte("fuzz-secret-fuzz-secret-fuzz-secret!"),
		Now:         func() time.Time { return now },
		MinPartSize: 1,
	})
	if err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	// A fixed id: fuzz workers are separate processes that all rebuild
	// the set of signed grants. Signing needs no upload on disk.
	const id = "0123456789abcdef0123456789abcdef"
	// The upload exists, so the handler receives (empty) parts for a/b.bin.
	if err := os.MkdirAll(filepath.Join(dir, uploadsDir, id), 0o750); err != nil {
		f.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, uploadsDir, id, uploadFile), []byte(`{"key":"a/b.bin"}`), 0o640); err != nil {
		f.Fatal(err)
	}
	signed := make(map[string]bool)
	exp := now.Add(time.Hour)
	for _, req := range []signer.PartRequest{
		{Key: "a/b.bin", UploadID: id, PartNumber: 1, Size: 5, Expires: exp},
		{Key: "a/b.bin", UploadID: id, PartNumber: 3, Size: 0, Expires: exp},
		{Key: "a/b.bin", UploadID: id, PartNumber: MaxParts, Size: 0, Expires: exp,
			Checksum: signer.Checksum{Algorithm: signer.SHA256, Value: "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="}},
		{Key: "sp ace/ü/q?#", UploadID: id, PartNumber: 7, Size: 1 << 20, Expires: exp,
			Checksum: signer.Checksum{Algorithm: signer.CRC32C, Value: "AAAAAA=="}},
		{Key: "expired", UploadID: id, PartNumber: 2, Size: 1, Expires: now.Add(-time.Second)},
	} {
		target, err := s.SignPart(ctx, req)
		if err != nil {
			f.Fatal(err)
		}
		u, err := url.Parse(target.URL)
		if err != nil {
			f.Fatal(err)
		}
		q, _ := url.ParseQuery(u.RawQuery)
		g, _, err := parsePartGrant(q, req.Key)
		if err != nil {
			f.Fatalf("parsePartGrant of a signed URL: %v", err)
		}
		signed[string(g.canonical(nil))] = true
		f.Add(http.MethodPut, u.Path, u.RawQuery)
		f.Add(http.MethodGet, u.Path, u.RawQuery)
	}
	f.Add("PUT", "/local/k", "method=PUT&expires=1700003600&upload-id=../../objects&part-number=1&size=1&signature=AAAA")
	f.Add("PUT", "/local/k", "upload-id=&upload-id=x")
	f.Add("PUT", "/local/k", "method=PUT&expires=1700003600&upload-id="+id+"&part-number=-1&size=-1&signature=")

	f.Fuzz(func(t *testing.T, method, path, rawQuery string) {
		q, qerr := url.ParseQuery(rawQuery)
		var g *partGrant
		if qerr == nil && isPartQuery(q) {
			g, err = s.authorizePart(method, path, q)
			if err != nil {
				if _, ok := errorsAsAuth(err); !ok {
					t.Fatalf("authorizePart returned a non-refusal error: %v", err)
				}
				g = nil
			} else {
				switch {
				case !signed[string(g.canonical(nil))]:
					t.Fatalf("accepted an unsigned part grant %+v", *g)
				case !validUploadID(g.uploadID) || g.partNumber < 1 || g.partNumber > MaxParts || g.size < 0:
					t.Fatalf("accepted an out-of-range part grant %+v", *g)
				case method != http.MethodPut:
					t.Fatalf("accepted %s for a part grant", method)
				case !now.Before(time.Unix(g.expires, 0)):
					t.Fatal("accepted an expired part grant")
				}
			}
		}
		req := &http.Request{
			Method:     method,
			URL:        &url.URL{Path: path, RawQuery: rawQuery},
			Proto:      "HTTP/1.1",
			ProtoMajor: 1,
			ProtoMinor: 1,
			Header:     make(http.Header),
			Body:       http.NoBody,
			Host:       "presignd.test",
			RequestURI: path,
		}
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		if method == http.MethodPut && qerr == nil && isPartQuery(q) && rec.Code >= 200 && rec.Code < 300 && g == nil {
			t.Fatalf("handler answered %d to a part the verifier refused", rec.Code)
		}
	})
}
