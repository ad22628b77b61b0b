package gcs_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
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
	"github.com/presignd/presignd/signer/gcs"
	"github.com/presignd/presignd/signer/gcs/gcstest"
)

// apiStub is a JSON API server whose answers a test scripts. It also serves
// an OAuth token endpoint at /token.
type apiStub struct {
	t   *testing.T
	srv *httptest.Server

	mu      sync.Mutex
	calls   []*http.Request
	answers []func(w http.ResponseWriter)
}

func newAPIStub(t *testing.T) *apiStub {
	a := &apiStub{t: t}
	a.srv = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *apiStub) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/token" {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"access_token":"stub-token","token_type":"Bearer","expires_in":3600}`)
		return
	}
	a.mu.Lock()
	a.calls = append(a.calls, r.Clone(context.Background()))
	var answer func(w http.ResponseWriter)
	if len(a.answers) > 0 {
		answer, a.answers = a.answers[0], a.answers[1:]
	}
	a.mu.Unlock()
	if answer == nil {
		a.t.Errorf("unexpected call %s %s", r.Method, r.URL)
		w.WriteHeader(http.StatusTeapot)
		return
	}
	answer(w)
}

// script queues answers for the next calls.
func (a *apiStub) script(answers ...func(w http.ResponseWriter)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = nil
	a.answers = answers
}

func (a *apiStub) took() []*http.Request {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls
}

func answer(status int, body string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

// credentialsFor is a service-account file whose token endpoint is a's
// and whose quota project is "billing-project".
func credentialsFor(t *testing.T, a *apiStub) []byte {
	var m map[string]string
	if err := json.Unmarshal(serviceAccountJSON(t, "presignd-api@presignd-test.iam.gserviceaccount.com"), &m); err != nil {
		t.Fatal(err)
	}
	m["token_uri"] = a.srv.URL + "/token"
	m["quota_project_id"] = "billing-project"
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const objectResource = `{"kind":"storage#object","name":"a b/c+d?e#~","bucket":"bkt","size":"43",
	"md5Hash":"nhB9nTcrtoJr2B01QqQZ1g==","crc32c":"ImIEBA==","contentType":"text/plain",
	"etag":"CJ+Ck4DqmYkDEAE=","updated":"2026-03-01T10:20:30.456Z"}`

func TestJSONAPICalls(t *testing.T) {
	t.Setenv("STORAGE_EMULATOR_HOST", "")
	a := newAPIStub(t)
	s, err := gcs.New(t.Context(), gcs.Config{Bucket: "bkt", CredentialsJSON: credentialsFor(t, a), Endpoint: a.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	const key = "a b/c+d?e#~"
	const path = "/storage/v1/b/bkt/o/a%20b%2Fc%2Bd%3Fe%23~"

	t.Run("Stat reads the object resource, authenticated with the credentials' token", func(t *testing.T) {
		a.script(answer(http.StatusOK, objectResource))
		info, err := s.Stat(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		want := signer.ObjectInfo{
			Size: 43, ContentType: "text/plain", ETag: "CJ+Ck4DqmYkDEAE=",
			Checksums: map[string]string{signer.MD5: "nhB9nTcrtoJr2B01QqQZ1g==", signer.CRC32C: "ImIEBA=="},
			Modified:  time.Date(2026, 3, 1, 10, 20, 30, 456e6, time.UTC),
		}
		if info.Size != want.Size || info.ContentType != want.ContentType || info.ETag != want.ETag ||
			!info.Modified.Equal(want.Modified) || len(info.Checksums) != 2 ||
			info.Checksums[signer.MD5] != want.Checksums[signer.MD5] || info.Checksums[signer.CRC32C] != want.Checksums[signer.CRC32C] {
			t.Errorf("Stat = %+v, want %+v", info, want)
		}
		calls := a.took()
		if len(calls) != 1 {
			t.Fatalf("%d calls, want 1", len(calls))
		}
		r := calls[0]
		if r.Method != http.MethodGet || r.URL.EscapedPath() != path || r.URL.RawQuery != "alt=json&prettyPrint=false" {
			t.Errorf("call %s %s?%s, want GET %s?alt=json&prettyPrint=false", r.Method, r.URL.EscapedPath(), r.URL.RawQuery, path)
		}
		if got := r.Header.Get("Authorization"); got != "Bearer stub-token" {
			t.Errorf("Authorization %q, want the credentials' token", got)
		}
		if got := r.Header.Get("X-Goog-User-Project"); got != "billing-project" {
			t.Errorf("X-Goog-User-Project %q, want the credentials' quota project", got)
		}
	})

	t.Run("Stat of an object GCS does not have wraps ErrNotFound", func(t *testing.T) {
		a.script(answer(http.StatusNotFound, `{"error":{"code":404,"message":"No such object: bkt/a b/c+d?e#~"}}`))
		if _, err := s.Stat(ctx, key); !errors.Is(err, signer.ErrNotFound) {
			t.Fatalf("Stat: %v, want ErrNotFound", err)
		}
	})

	t.Run("Stat of an object without checksums reports none", func(t *testing.T) {
		a.script(answer(http.StatusOK, `{"name":"x","size":"0","contentType":"","etag":"e","updated":"2026-03-01T10:20:30Z"}`))
		info, err := s.Stat(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if info.Size != 0 || len(info.Checksums) != 0 {
			t.Errorf("Stat = %+v, want size 0 and no checksums", info)
		}
	})

	t.Run("a refusal names GCS's status and message", func(t *testing.T) {
		refusal := answer(http.StatusForbidden, `{"error":{"code":403,"message":"presignd-api@ does not have storage.objects.get access"}}`)
		a.script(refusal, refusal)
		_, statErr := s.Stat(ctx, key)
		delErr := s.Delete(ctx, key)
		for _, err := range []error{statErr, delErr} {
			if err == nil || !strings.Contains(err.Error(), "403 Forbidden: presignd-api@ does not have storage.objects.get access") || errors.Is(err, signer.ErrNotFound) {
				t.Errorf("error %v, want one naming 403 Forbidden and GCS's message", err)
			}
			if errors.Is(err, signer.ErrUnavailable) {
				t.Errorf("error %v wraps ErrUnavailable; a 403 is not transient", err)
			}
		}
		if n := len(a.took()); n != 2 {
			t.Errorf("%d calls, want 2: a 403 is not tried again", n)
		}
	})

	t.Run("a refusal without a JSON body keeps the start of the body", func(t *testing.T) {
		a.script(func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, "<html>no such thing</html>")
		})
		if _, err := s.Stat(ctx, key); err == nil || !strings.Contains(err.Error(), "400 Bad Request: <html>no such thing</html>") {
			t.Errorf("error %v, want 400 and the body", err)
		}
	})

	t.Run("Delete sends DELETE and takes a missing object as done", func(t *testing.T) {
		a.script(answer(http.StatusNoContent, ""), answer(http.StatusNotFound, `{"error":{"code":404,"message":"No such object"}}`))
		for range 2 {
			if err := s.Delete(ctx, key); err != nil {
				t.Fatal(err)
			}
		}
		for _, r := range a.took() {
			if r.Method != http.MethodDelete || r.URL.EscapedPath() != path || r.Header.Get("Authorization") != "Bearer stub-token" {
				t.Errorf("call %s %s (Authorization %q), want an authenticated DELETE %s", r.Method, r.URL.EscapedPath(), r.Header.Get("Authorization"), path)
			}
		}
	})

	t.Run("transient answers are tried again", func(t *testing.T) {
		a.script(answer(http.StatusServiceUnavailable, `{"error":{"code":503,"message":"backend busy"}}`),
			answer(http.StatusTooManyRequests, `{"error":{"code":429,"message":"slow down"}}`),
			answer(http.StatusOK, objectResource))
		if _, err := s.Stat(ctx, key); err != nil {
			t.Fatal(err)
		}
		if n := len(a.took()); n != 3 {
			t.Errorf("%d calls, want 3", n)
		}
	})

	t.Run("tries stop after four", func(t *testing.T) {
		busy := answer(http.StatusInternalServerError, `{"error":{"code":500,"message":"backend error"}}`)
		a.script(busy, busy, busy, busy, busy)
		if err := s.Delete(ctx, key); err == nil || !strings.Contains(err.Error(), "500 Internal Server Error: backend error") || !errors.Is(err, signer.ErrUnavailable) {
			t.Errorf("error %v, want the last 500, wrapping ErrUnavailable", err)
		}
		if n := len(a.took()); n != 4 {
			t.Errorf("%d calls, want 4", n)
		}
	})

	t.Run("an unreachable GCS is unavailable", func(t *testing.T) {
		down := httptest.NewServer(http.NotFoundHandler())
		down.Close()
		s, err := gcs.New(t.Context(), gcs.Config{Bucket: "bkt", CredentialsJSON: credentialsFor(t, a), Endpoint: down.URL})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, err := s.Stat(ctx, key); !errors.Is(err, signer.ErrUnavailable) {
			t.Errorf("Stat: %v, want one wrapping ErrUnavailable", err)
		}
	})

	t.Run("the context ends the tries", func(t *testing.T) {
		busy := answer(http.StatusServiceUnavailable, `{"error":{"code":503,"message":"backend busy"}}`)
		a.script(busy, busy, busy, busy)
		ctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
		defer cancel()
		if _, err := s.Stat(ctx, key); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v, want the context's", err)
		}
	})
}

func TestEmulatorCallsAreUnauthenticated(t *testing.T) {
	a := newAPIStub(t)
	host := strings.TrimPrefix(a.srv.URL, "http://")
	t.Setenv("STORAGE_EMULATOR_HOST", host)
	s, err := gcs.New(t.Context(), gcs.Config{Bucket: "bkt", CredentialsJSON: credentialsFor(t, a)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a.script(answer(http.StatusOK, objectResource))
	if _, err := s.Stat(t.Context(), "k"); err != nil {
		t.Fatal(err)
	}
	if r := a.took()[0]; r.URL.Path != "/storage/v1/b/bkt/o/k" || r.Header.Get("Authorization") != "" {
		t.Errorf("call %s with Authorization %q, want /storage/v1/b/bkt/o/k unauthenticated", r.URL.Path, r.Header.Get("Authorization"))
	}
	u, err := s.SignDownload(t.Context(), signer.DownloadRequest{Key: "k", Expires: time.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if want := "http://" + host + "/bkt/k?"; !strings.HasPrefix(u, want) {
		t.Errorf("signed URL %s, want it to start with %s", u, want)
	}
}

func TestHTTPClientCarriesCallsAsTheyAre(t *testing.T) {
	t.Setenv("STORAGE_EMULATOR_HOST", "")
	a := newAPIStub(t)
	s, err := gcs.New(t.Context(), gcs.Config{Bucket: "bkt", CredentialsJSON: credentialsFor(t, a), Endpoint: a.srv.URL, HTTPClient: a.srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a.script(answer(http.StatusNoContent, ""))
	if err := s.Delete(t.Context(), "k"); err != nil {
		t.Fatal(err)
	}
	if got := a.took()[0].Header.Get("Authorization"); got != "" {
		t.Errorf("Authorization %q, want none", got)
	}
}

// Against gcstest without an HTTPClient, as the presignd binary runs: the
// token comes from the credentials' token_uri (gcstest's /token).
func TestStatWithTokenFromCredentials(t *testing.T) {
	t.Setenv("STORAGE_EMULATOR_HOST", "")
	srv := gcstest.NewServer(t, "presignd-token")
	s, err := gcs.New(t.Context(), gcs.Config{Bucket: srv.Bucket, CredentialsJSON: srv.CredentialsJSON, Endpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Stat(t.Context(), "missing"); !errors.Is(err, signer.ErrNotFound) {
		t.Fatalf("Stat: %v, want ErrNotFound", err)
	}
}

func TestSigningAccountDetection(t *testing.T) {
	t.Setenv("STORAGE_EMULATOR_HOST", "")
	srv := gcstest.NewServer(t, "presignd-detect")
	iam := newIAMFake(t, srv.GoogleAccessID, srv.Key)
	iamURL, _ := url.Parse(iam.srv.URL)
	client := &http.Client{Transport: routeIAM{iam: iamURL, base: srv.Client().Transport}}

	t.Run("from the GCE metadata server, asked once", func(t *testing.T) {
		var mu sync.Mutex
		asked := 0
		md := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/computeMetadata/v1/instance/service-accounts/default/email" || r.Header.Get("Metadata-Flavor") != "Google" {
				http.NotFound(w, r)
				return
			}
			mu.Lock()
			asked++
			mu.Unlock()
			w.Header().Set("Metadata-Flavor", "Google")
			_, _ = io.WriteString(w, srv.GoogleAccessID)
		}))
		defer md.Close()
		t.Setenv("GCE_METADATA_HOST", strings.TrimPrefix(md.URL, "http://"))
		s, err := gcs.New(t.Context(), gcs.Config{Bucket: srv.Bucket, Endpoint: srv.URL, HTTPClient: client})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if id := s.GoogleAccessID(); id != "" {
			t.Errorf("GoogleAccessID before signing = %q, want empty", id)
		}
		for range 2 {
			u, err := s.SignDownload(t.Context(), signer.DownloadRequest{Key: "k", Expires: time.Now().Add(time.Minute)})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(u, "X-Goog-Credential="+url.QueryEscape(srv.GoogleAccessID)+"%2F") {
				t.Errorf("URL %s is not signed as %s", u, srv.GoogleAccessID)
			}
		}
		if id := s.GoogleAccessID(); id != srv.GoogleAccessID {
			t.Errorf("GoogleAccessID after signing = %q, want %q", id, srv.GoogleAccessID)
		}
		if asked != 1 {
			t.Errorf("metadata server asked %d times, want 1", asked)
		}
	})

	t.Run("from an impersonation URL", func(t *testing.T) {
		creds := []byte(`{"type":"impersonated_service_account",
			"service_account_impersonation_url":"https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/` + srv.GoogleAccessID + `:generateAccessToken",
			"source_credentials":{"type":"authorized_user","client_id":"id","client_secret":"secret","refresh_token":"token"}}`)
		s, err := gcs.New(t.Context(), gcs.Config{Bucket: srv.Bucket, CredentialsJSON: creds, Endpoint: srv.URL, HTTPClient: client})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if id := s.GoogleAccessID(); id != srv.GoogleAccessID {
			t.Errorf("GoogleAccessID = %q, want %q", id, srv.GoogleAccessID)
		}
	})
}

// Application default credentials that are a service-account key file
// sign in-process and authenticate calls, as the same file given as
// CredentialsFile does.
func TestApplicationDefaultCredentialsFile(t *testing.T) {
	t.Setenv("STORAGE_EMULATOR_HOST", "")
	srv := gcstest.NewServer(t, "presignd-adc")
	file := filepath.Join(t.TempDir(), "adc.json")
	if err := os.WriteFile(file, srv.CredentialsJSON, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", file)
	s, err := gcs.New(t.Context(), gcs.Config{Bucket: srv.Bucket, Endpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if id := s.GoogleAccessID(); id != srv.GoogleAccessID {
		t.Errorf("GoogleAccessID = %q, want the file's client_email %q", id, srv.GoogleAccessID)
	}
	target, err := s.SignUpload(t.Context(), signer.UploadRequest{Key: "adc.txt", ContentType: "text/plain", Expires: time.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, target.URL, strings.NewReader("adc"))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range target.Headers {
		req.Header.Set(k, v)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT status %d", resp.StatusCode)
	}
	if info, err := s.Stat(t.Context(), "adc.txt"); err != nil || info.Size != 3 {
		t.Fatalf("Stat = %+v, %v; want 3 bytes", info, err)
	}
}
