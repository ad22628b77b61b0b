package local_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/signer/local"
	"github.com/presignd/presignd/signer/signertest"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

func TestNewRefusesBadConfig(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		cfg  local.Config
	}{
		{"a secret shorter than 32 bytes", local.Config{Dir: dir, BaseURL: "http://x", Secret: []byte("short")}},
		{"no directory", local.Config{BaseURL: "http://x", Secret: testSecret}},
		{"a relative base URL", local.Config{Dir: dir, BaseURL: "/local", Secret: testSecret}},
		{"a base URL with another scheme", local.Config{Dir: dir, BaseURL: "ftp://x", Secret: testSecret}},
		{"a base URL with a query", local.Config{Dir: dir, BaseURL: "http://x/?a=b", Secret: testSecret}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if s, err := local.New(tc.cfg); err == nil {
				s.Close()
				t.Fatal("New succeeded, want an error")
			}
		})
	}
}

// put sends body to target with extra header changes applied and returns
// the status and response body.
func put(t *testing.T, h *harness, target signer.UploadTarget, body io.Reader, edit func(*http.Request)) (int, string) {
	t.Helper()
	req, err := http.NewRequest(target.Method, target.URL, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range target.Headers {
		req.Header.Set(k, v)
	}
	if edit != nil {
		edit(req)
	}
	resp, err := h.HTTPClient().Do(req)
	if err != nil {
		t.Fatalf("PUT: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func sha256b64(b []byte) string {
	s := sha256.Sum256(b)
	return base64.StdEncoding.EncodeToString(s[:])
}

// entries lists the names under dir (recursively), relative to it.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPutRefusals(t *testing.T) {
	body := []byte("hello, presignd")
	base := signer.UploadRequest{
		Key:                "docs/hello.txt",
		ContentType:        "text/plain",
		MaxSize:            int64(len(body)),
		Checksum:           signer.Checksum{Algorithm: signer.SHA256, Value: sha256b64(body)},
		ContentDisposition: `attachment; filename="hello.txt"`,
	}
	tests := []struct {
		name   string
		edit   func(*http.Request)
		body   io.Reader
		status int
		msg    string
	}{
		{"a PUT without a signature is refused", func(r *http.Request) { r.URL.RawQuery = dropParam(r.URL.RawQuery, "signature") }, nil, 403, "signature"},
		{"a PUT with an extra signed parameter is refused", func(r *http.Request) { r.URL.RawQuery += "&response-content-type=text%2Fhtml" }, nil, 403, "signature"},
		{"a PUT with a repeated parameter is refused", func(r *http.Request) { r.URL.RawQuery += "&content-type=text%2Fplain" }, nil, 403, "malformed"},
		{"a PUT with a raised max-size is refused", func(r *http.Request) {
			r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "max-size=15", "max-size=99", 1)
		}, nil, 403, "signature"},
		{"a PUT with a non-canonical expiry is refused", func(r *http.Request) { r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "expires=", "expires=0", 1) }, nil, 403, "malformed"},
		{"a PUT without the Content-Type header is refused", func(r *http.Request) { r.Header.Del("Content-Type") }, nil, 403, "Content-Type"},
		{"a PUT with a Content-Type parameter added is refused", func(r *http.Request) { r.Header.Set("Content-Type", "text/plain; charset=utf-8") }, nil, 403, "Content-Type"},
		{"a PUT with another Content-Disposition is refused", func(r *http.Request) { r.Header.Set("Content-Disposition", "inline") }, nil, 403, "Content-Disposition"},
		{"a PUT without the checksum header is refused", func(r *http.Request) { r.Header.Del(local.HeaderChecksumSHA256) }, nil, 403, "checksum header"},
		{"a PUT whose bytes do not match the checksum is refused", nil, strings.NewReader("hello, PRESIGND"), 400, "checksum"},
		{"a PUT announcing more than max-size is refused", nil, strings.NewReader("hello, presignd!"), 413, "maximum size"},
		{"a chunked PUT passing max-size is refused", nil, io.MultiReader(strings.NewReader("hello, presignd!"), strings.NewReader("")), 413, "maximum size"},
		{"a GET with the PUT signature is refused", func(r *http.Request) { r.Method = http.MethodGet; r.Body = nil; r.ContentLength = 0 }, nil, 403, "signature"},
		{"a DELETE is refused", func(r *http.Request) { r.Method = http.MethodDelete }, nil, 405, "method"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, local.Config{})
			defer h.Close()
			req := base
			req.Expires = time.Now().Add(time.Minute)
			target, err := h.s.SignUpload(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			sig := queryParam(target.URL, "signature")
			b := tc.body
			if b == nil {
				b = bytes.NewReader(body)
			}
			status, msg := put(t, h, target, b, tc.edit)
			if status != tc.status || !strings.Contains(msg, tc.msg) {
				t.Errorf("status %d %q, want %d containing %q", status, msg, tc.status, tc.msg)
			}
			if strings.Contains(msg, sig) {
				t.Error("the error body echoes the signature")
			}
			if _, err := h.s.Stat(context.Background(), req.Key); !errors.Is(err, signer.ErrNotFound) {
				t.Errorf("Stat after a refused PUT: %v, want ErrNotFound", err)
			}
			if got := entries(t, filepath.Join(h.dir, "tmp")); len(got) != 0 {
				t.Errorf("tmp/ holds %v after a refused PUT", got)
			}
		})
	}
}

func dropParam(rawQuery, name string) string {
	q, _ := url.ParseQuery(rawQuery)
	q.Del(name)
	return q.Encode()
}

func queryParam(rawURL, name string) string {
	u, _ := url.Parse(rawURL)
	return u.Query().Get(name)
}

func TestExpiryUsesTheConfiguredClock(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	h := newHarness(t, local.Config{Now: clock})
	defer h.Close()
	target, err := h.s.SignUpload(context.Background(), signer.UploadRequest{Key: "k", Expires: now.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(time.Minute) // the URL works while now < expires
	mu.Unlock()
	if status, msg := put(t, h, target, strings.NewReader("x"), nil); status != 403 || !strings.Contains(msg, "expired") {
		t.Errorf("PUT at its expiry: %d %q, want 403 expired", status, msg)
	}
	mu.Lock()
	now = now.Add(-time.Second)
	mu.Unlock()
	if status, msg := put(t, h, target, strings.NewReader("x"), nil); status != 200 {
		t.Errorf("PUT a second before its expiry: %d %q, want 200", status, msg)
	}
}

func TestUploadURLsAreOneShot(t *testing.T) {
	h := newHarness(t, local.Config{})
	defer h.Close()
	ctx := context.Background()
	target, err := h.s.SignUpload(ctx, signer.UploadRequest{Key: "once", Expires: time.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if status, msg := put(t, h, target, strings.NewReader("first"), nil); status != 200 {
		t.Fatalf("first PUT: %d %q", status, msg)
	}
	if status, _ := put(t, h, target, strings.NewReader("second"), nil); status != http.StatusConflict {
		t.Errorf("replayed PUT: %d, want 409", status)
	}
	if info, _ := h.s.Stat(ctx, "once"); info.Size != int64(len("first")) {
		t.Errorf("Stat Size = %d after a replay, want the first upload's %d", info.Size, len("first"))
	}
}

func TestConcurrentPutsToOneKeyStoreExactlyOne(t *testing.T) {
	h := newHarness(t, local.Config{})
	defer h.Close()
	ctx := context.Background()
	target, err := h.s.SignUpload(ctx, signer.UploadRequest{Key: "race/k", Expires: time.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			statuses[i], _ = put(t, h, target, bytes.NewReader(bytes.Repeat([]byte{byte('a' + i)}, 1<<16)), nil)
		})
	}
	wg.Wait()
	var ok, conflict int
	winner := -1
	for i, s := range statuses {
		switch s {
		case 200:
			ok++
			winner = i
		case 409:
			conflict++
		}
	}
	if ok != 1 || conflict != n-1 {
		t.Fatalf("statuses %v, want one 200 and %d 409", statuses, n-1)
	}
	info, err := h.s.Stat(ctx, "race/k")
	if err != nil {
		t.Fatal(err)
	}
	if want := sha256b64(bytes.Repeat([]byte{byte('a' + winner)}, 1<<16)); info.Checksums[signer.SHA256] != want {
		t.Error("the stored object and its sidecar do not describe the winning upload")
	}
}

func TestKeysThatClashWithAnotherKeysPathAreRefused(t *testing.T) {
	h := newHarness(t, local.Config{})
	defer h.Close()
	ctx := context.Background()
	upload := func(key string) int {
		target, err := h.s.SignUpload(ctx, signer.UploadRequest{Key: key, Expires: time.Now().Add(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		status, _ := put(t, h, target, strings.NewReader("x"), nil)
		return status
	}
	if s := upload("a/b"); s != 200 {
		t.Fatalf("PUT a/b: %d", s)
	}
	if s := upload("a"); s != http.StatusConflict {
		t.Errorf("PUT a (a directory of a/b): %d, want 409", s)
	}
	if s := upload("a/b/c"); s != http.StatusConflict {
		t.Errorf("PUT a/b/c (under the object a/b): %d, want 409", s)
	}
	if _, err := h.s.Stat(ctx, "a"); !errors.Is(err, signer.ErrNotFound) {
		t.Errorf("Stat of a directory: %v, want ErrNotFound", err)
	}
	if err := h.s.Delete(ctx, "a"); err != nil {
		t.Errorf("Delete of a directory: %v, want nil", err)
	}
	if _, err := h.s.Stat(ctx, "a/b"); err != nil {
		t.Errorf("Delete of a directory removed what is under it: %v", err)
	}
}

// TestTraversalIsRefusedBeforeDisk sends request paths that try to leave
// the objects tree, each with a valid signature for some other key.
func TestTraversalIsRefusedBeforeDisk(t *testing.T) {
	h := newHarness(t, local.Config{})
	defer h.Close()
	target, err := h.s.SignUpload(context.Background(), signer.UploadRequest{Key: "ok", Expires: time.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	_, query, _ := strings.Cut(target.URL, "?")
	paths := []string{
		"/local/../meta/ok",
		"/local/%2e%2e/meta/ok",
		"/local/%2E%2E%2Fmeta%2Fok",
		"/local/a/../../x",
		"/local//etc/passwd",
		"/local/a%5C..%5Cx",
		"/local/a%00b",
		"/local/a%0ab",
		"/local/",
	}
	for _, p := range paths {
		for _, method := range []string{http.MethodPut, http.MethodGet} {
			req := httptest.NewRequest(method, p+"?"+query, strings.NewReader("evil"))
			rec := httptest.NewRecorder()
			h.s.Handler().ServeHTTP(rec, req)
			if rec.Code != http.StatusBadRequest && rec.Code != http.StatusForbidden {
				t.Errorf("%s %s: %d, want 400 or 403", method, p, rec.Code)
			}
		}
	}
	for _, d := range []string{"objects", "meta", "tmp"} {
		if got := entries(t, filepath.Join(h.dir, d)); len(got) != 0 {
			t.Errorf("%s/ holds %v", d, got)
		}
	}
}

func TestSymlinksCannotEscapeDir(t *testing.T) {
	h := newHarness(t, local.Config{})
	defer h.Close()
	ctx := context.Background()
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(h.dir, "objects", "out")); err != nil {
		t.Skipf("cannot create symlinks: %v", err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(h.dir, "objects", "leak")); err != nil {
		t.Fatal(err)
	}
	target, err := h.s.SignUpload(ctx, signer.UploadRequest{Key: "out/new", Expires: time.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if status, _ := put(t, h, target, strings.NewReader("evil"), nil); status < 400 {
		t.Errorf("PUT through a symlink out of Dir: %d, want a refusal", status)
	}
	if _, err := os.Stat(filepath.Join(outside, "new")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a PUT wrote outside Dir (%v)", err)
	}
	for _, key := range []string{"leak", "out/secret"} {
		u, err := h.s.SignDownload(ctx, signer.DownloadRequest{Key: key, Expires: time.Now().Add(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := h.HTTPClient().Get(u)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 || bytes.Contains(b, []byte("secret")) {
			t.Errorf("GET %s through a symlink out of Dir: %d %q", key, resp.StatusCode, b)
		}
		if _, err := h.s.Stat(ctx, key); err == nil {
			t.Errorf("Stat %s through a symlink out of Dir succeeded", key)
		}
	}
}

func TestSidecarsLiveOutsideTheObjectTree(t *testing.T) {
	h := newHarness(t, local.Config{})
	defer h.Close()
	ctx := context.Background()
	for _, key := range []string{"k", "meta/k"} {
		target, err := h.s.SignUpload(ctx, signer.UploadRequest{Key: key, ContentType: "text/plain", Expires: time.Now().Add(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		if status, msg := put(t, h, target, strings.NewReader("bytes of "+key), nil); status != 200 {
			t.Fatalf("PUT %s: %d %q", key, status, msg)
		}
	}
	if got, want := strings.Join(entries(t, filepath.Join(h.dir, "objects")), ","), "k,meta,meta/k"; got != want {
		t.Errorf("objects/ holds %s, want %s", got, want)
	}
	for _, key := range []string{"k", "meta/k"} {
		info, err := h.s.Stat(ctx, key)
		if err != nil || info.Size != int64(len("bytes of "+key)) || info.ContentType != "text/plain" {
			t.Errorf("Stat %s = %+v, %v", key, info, err)
		}
		md := md5.Sum([]byte("bytes of " + key))
		if info.Checksums[signer.MD5] != base64.StdEncoding.EncodeToString(md[:]) {
			t.Errorf("Stat %s MD5 = %q", key, info.Checksums[signer.MD5])
		}
	}
}

func TestDeleteRemovesSidecarAndEmptyDirectories(t *testing.T) {
	h := newHarness(t, local.Config{})
	defer h.Close()
	ctx := context.Background()
	target, err := h.s.SignUpload(ctx, signer.UploadRequest{Key: "a/b/c", Expires: time.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if status, _ := put(t, h, target, strings.NewReader("x"), nil); status != 200 {
		t.Fatalf("PUT: %d", status)
	}
	if err := h.s.Delete(ctx, "a/b/c"); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"objects", "meta"} {
		if got := entries(t, filepath.Join(h.dir, d)); len(got) != 0 {
			t.Errorf("%s/ holds %v after Delete", d, got)
		}
	}
}

func TestDownloadSupportsRangeAndHead(t *testing.T) {
	h := newHarness(t, local.Config{})
	defer h.Close()
	ctx := context.Background()
	body := []byte("0123456789")
	target, err := h.s.SignUpload(ctx, signer.UploadRequest{Key: "r", ContentType: "text/plain", Expires: time.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if status, _ := put(t, h, target, bytes.NewReader(body), nil); status != 200 {
		t.Fatalf("PUT: %d", status)
	}
	u, err := h.s.SignDownload(ctx, signer.DownloadRequest{Key: "r", Expires: time.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Range", "bytes=2-5")
	resp, err := h.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || string(got) != "2345" {
		t.Errorf("ranged GET: %d %q, want 206 \"2345\"", resp.StatusCode, got)
	}
	md := md5.Sum(body)
	if etag := resp.Header.Get("ETag"); etag != `"`+hexString(md[:])+`"` {
		t.Errorf("ETag = %s", etag)
	}
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Error("GET lacks X-Content-Type-Options: nosniff")
	}
	resp, err = h.HTTPClient().Head(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ContentLength != int64(len(body)) || resp.Header.Get("Content-Type") != "text/plain" {
		t.Errorf("HEAD: %d, length %d, type %q", resp.StatusCode, resp.ContentLength, resp.Header.Get("Content-Type"))
	}
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

func TestCORS(t *testing.T) {
	for _, origin := range []string{"", "https://app.example"} {
		t.Run("allow origin "+origin, func(t *testing.T) {
			h := newHarness(t, local.Config{AllowOrigin: origin})
			defer h.Close()
			want := origin
			if want == "" {
				want = "*"
			}
			req, _ := http.NewRequest(http.MethodOptions, h.srv.URL+"/local/some/key?method=PUT", nil)
			req.Header.Set("Origin", "https://app.example")
			req.Header.Set("Access-Control-Request-Method", "PUT")
			resp, err := h.HTTPClient().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNoContent {
				t.Errorf("preflight status %d", resp.StatusCode)
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != want {
				t.Errorf("Allow-Origin %q, want %q", got, want)
			}
			for _, m := range []string{"PUT", "POST", "GET"} {
				if !strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), m) {
					t.Errorf("Allow-Methods %q lacks %s", resp.Header.Get("Access-Control-Allow-Methods"), m)
				}
			}
			allowed := strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers"))
			for _, hd := range []string{"content-type", "content-md5", "content-disposition", local.HeaderChecksumSHA256, local.HeaderChecksumCRC32C} {
				if !strings.Contains(allowed, hd) {
					t.Errorf("Allow-Headers lacks %s", hd)
				}
			}
			if resp.Header.Get("Access-Control-Max-Age") == "" {
				t.Error("no Access-Control-Max-Age")
			}

			target, err := h.s.SignUpload(context.Background(), signer.UploadRequest{Key: "k", Expires: time.Now().Add(time.Minute)})
			if err != nil {
				t.Fatal(err)
			}
			resp, err = signertest.Upload(context.Background(), h.HTTPClient(), target, []byte("x"))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if !strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "ETag") || resp.Header.Get("Access-Control-Allow-Origin") != want {
				t.Errorf("PUT response CORS headers: %v", resp.Header)
			}
		})
	}
}

func TestPostForm(t *testing.T) {
	ctx := context.Background()
	send := func(t *testing.T, h *harness, parts [][3]string) (int, http.Header, string) {
		t.Helper()
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		for _, p := range parts {
			if p[0] == "file" {
				hdr := map[string][]string{
					"Content-Disposition": {`form-data; name="file"; filename="f.bin"`},
					"Content-Type":        {p[2]},
				}
				w, _ := mw.CreatePart(hdr)
				w.Write([]byte(p[1]))
				continue
			}
			mw.WriteField(p[0], p[1])
		}
		mw.Close()
		resp, err := h.HTTPClient().Post(h.srv.URL+"/local/", mw.FormDataContentType(), &buf)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	fieldsOf := func(target signer.UploadTarget, upper bool) [][3]string {
		var out [][3]string
		for k, v := range target.FormFields {
			if upper {
				k = strings.ToUpper(k)
			}
			out = append(out, [3]string{k, v})
		}
		return out
	}
	tests := []struct {
		name   string
		build  func(signer.UploadTarget) [][3]string
		status int
		check  func(t *testing.T, h *harness)
	}{
		{"a form whose file part has another Content-Type is stored with the signed type",
			func(tg signer.UploadTarget) [][3]string {
				return append(fieldsOf(tg, false), [3]string{"file", "12345", "text/html"})
			}, 204,
			func(t *testing.T, h *harness) {
				if info, err := h.s.Stat(ctx, "post/k"); err != nil || info.ContentType != "image/png" {
					t.Errorf("Stat = %+v, %v; want image/png", info, err)
				}
			}},
		{"field names are matched case-insensitively",
			func(tg signer.UploadTarget) [][3]string {
				return append(fieldsOf(tg, true), [3]string{"file", "12345", ""})
			}, 204, nil},
		{"fields after the file are ignored",
			func(tg signer.UploadTarget) [][3]string {
				return append(fieldsOf(tg, false), [3]string{"file", "12345", ""}, [3]string{"key", "other"})
			}, 204, nil},
		{"a form without a file part is refused",
			func(tg signer.UploadTarget) [][3]string { return fieldsOf(tg, false) }, 400, nil},
		{"a form with a field after the file that was needed is refused",
			func(tg signer.UploadTarget) [][3]string {
				var before, after [][3]string
				for _, f := range fieldsOf(tg, false) {
					if f[0] == "signature" {
						after = append(after, f)
					} else {
						before = append(before, f)
					}
				}
				return append(append(before, [3]string{"file", "12345", ""}), after...)
			}, 403, nil},
		{"a form with a repeated field is refused",
			func(tg signer.UploadTarget) [][3]string {
				return append(fieldsOf(tg, false), [3]string{"content-type", "image/png"}, [3]string{"file", "12345", ""})
			}, 403, nil},
		{"a form for another key is refused",
			func(tg signer.UploadTarget) [][3]string {
				fs := fieldsOf(tg, false)
				for i := range fs {
					if fs[i][0] == "key" {
						fs[i][1] = "post/other"
					}
				}
				return append(fs, [3]string{"file", "12345", ""})
			}, 403, nil},
		{"a form with a larger file than max-size is refused",
			func(tg signer.UploadTarget) [][3]string {
				return append(fieldsOf(tg, false), [3]string{"file", "1234567890a", ""})
			}, 413, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, local.Config{})
			defer h.Close()
			target, err := h.s.SignPostUpload(ctx, signer.UploadRequest{Key: "post/k", ContentType: "image/png", MaxSize: 10, Expires: time.Now().Add(time.Minute)})
			if err != nil {
				t.Fatal(err)
			}
			status, hdr, msg := send(t, h, tc.build(target))
			if status != tc.status {
				t.Fatalf("status %d %q, want %d", status, msg, tc.status)
			}
			if status == 204 && hdr.Get("ETag") == "" {
				t.Error("no ETag on a successful POST")
			}
			if status != 204 {
				if _, err := h.s.Stat(ctx, "post/k"); !errors.Is(err, signer.ErrNotFound) {
					t.Errorf("Stat after a refused POST: %v", err)
				}
			}
			if tc.check != nil {
				tc.check(t, h)
			}
		})
	}
}

func TestAnotherSecretDoesNotVerify(t *testing.T) {
	dir := t.TempDir()
	a := newHarness(t, local.Config{Dir: dir})
	defer a.Close()
	b := newHarness(t, local.Config{Dir: dir, BaseURL: a.srv.URL, Secret: bytes.Repeat([]byte("z"), 32)})
	defer b.Close()
	target, err := b.s.SignUpload(context.Background(), signer.UploadRequest{Key: "k", Expires: time.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if status, _ := put(t, a, target, strings.NewReader("x"), nil); status != 403 {
		t.Errorf("PUT signed with another secret: %d, want 403", status)
	}
}

// TestStorageURIHidesDiskPath: the URI names the object within its
// backend (local://<name>/<key>), never the server's directory.
func TestStorageURIHidesDiskPath(t *testing.T) {
	h := newHarness(t, local.Config{Name: "media"})
	defer h.Close()
	key := "dir/a file #1 100%?.txt"
	uri := h.s.StorageURI(key)
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatalf("StorageURI %q does not parse: %v", uri, err)
	}
	if u.Scheme != "local" || u.Host != "media" || u.Path != "/"+key || u.RawQuery != "" || u.Fragment != "" {
		t.Errorf("StorageURI = %q, want local://media/ naming %s", uri, key)
	}
	abs, _ := filepath.Abs(h.dir)
	if strings.Contains(uri, filepath.ToSlash(abs)) || strings.Contains(uri, url.PathEscape(filepath.ToSlash(abs))) {
		t.Errorf("StorageURI = %q shows the server's directory %s", uri, abs)
	}
	if got := h.s.StorageURI("../x"); got != "" {
		t.Errorf("StorageURI of an invalid key = %q, want empty", got)
	}
}

func TestSignRefusesBadRequests(t *testing.T) {
	h := newHarness(t, local.Config{})
	defer h.Close()
	ctx := context.Background()
	exp := time.Now().Add(time.Minute)
	tests := []struct {
		name string
		req  signer.UploadRequest
	}{
		{"no expiry", signer.UploadRequest{Key: "k"}},
		{"a negative max size", signer.UploadRequest{Key: "k", MaxSize: -1, Expires: exp}},
		{"a content type with a newline", signer.UploadRequest{Key: "k", ContentType: "text/plain\r\nX: y", Expires: exp}},
		{"a checksum that is not base64", signer.UploadRequest{Key: "k", Checksum: signer.Checksum{Algorithm: signer.MD5, Value: "not base64!"}, Expires: exp}},
		{"a checksum of the wrong length", signer.UploadRequest{Key: "k", Checksum: signer.Checksum{Algorithm: signer.SHA256, Value: "AAAA"}, Expires: exp}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := h.s.SignUpload(ctx, tc.req); err == nil {
				t.Error("SignUpload succeeded, want an error")
			}
		})
	}
}

func TestPostFormLimits(t *testing.T) {
	tests := []struct {
		name   string
		fields func(mw *multipart.Writer)
		status int
	}{
		{"a form with too many fields is refused", func(mw *multipart.Writer) {
			for i := range 100 {
				mw.WriteField("f"+strings.Repeat("x", i), "v")
			}
		}, 400},
		{"a form with a field over 16 KiB is refused", func(mw *multipart.Writer) {
			mw.WriteField("key", strings.Repeat("k", 17<<10))
		}, 400},
		{"a form whose fields pass 1 MiB is refused", func(mw *multipart.Writer) {
			for i := range 64 {
				mw.WriteField(fmt.Sprint("f", i), strings.Repeat("v", 16<<10))
			}
		}, 413},
		{"a body that is not multipart is refused", nil, 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, local.Config{})
			defer h.Close()
			var buf bytes.Buffer
			ct := "text/plain"
			if tc.fields != nil {
				mw := multipart.NewWriter(&buf)
				tc.fields(mw)
				w, _ := mw.CreateFormFile("file", "f")
				w.Write([]byte("x"))
				mw.Close()
				ct = mw.FormDataContentType()
			}
			resp, err := h.HTTPClient().Post(h.srv.URL+"/local/", ct, &buf)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.status)
			}
		})
	}
}
