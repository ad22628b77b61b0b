package gcs_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/signer/gcs"
	"github.com/presignd/presignd/signer/gcs/gcstest"
	"github.com/presignd/presignd/signer/signertest"
)

// iamFake stands in for the IAM Credentials API's signBlob: it signs what
// it is asked to with key, as account, and records every payload.
type iamFake struct {
	t       *testing.T
	account string
	key     *rsa.PrivateKey
	srv     *httptest.Server

	mu       sync.Mutex
	payloads [][]byte
}

func newIAMFake(t *testing.T, account string, key *rsa.PrivateKey) *iamFake {
	f := &iamFake{t: t, account: account, key: key}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *iamFake) serve(w http.ResponseWriter, r *http.Request) {
	const prefix = "/v1/projects/-/serviceAccounts/"
	account, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, prefix), ":signBlob")
	if r.Method != http.MethodPost || !strings.HasPrefix(r.URL.Path, prefix) || !ok {
		f.t.Errorf("IAM request %s %s, want POST %s<account>:signBlob", r.Method, r.URL.Path, prefix)
		http.Error(w, `{"error":{"code":404,"message":"not found"}}`, http.StatusNotFound)
		return
	}
	if account != f.account {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(w, `{"error":{"code":403,"message":"Permission 'iam.serviceAccounts.signBlob' denied","status":"PERMISSION_DENIED"}}`)
		return
	}
	var in struct {
		Payload string `json:"payload"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		http.Error(w, `{"error":{"code":400,"message":"bad json"}}`, http.StatusBadRequest)
		return
	}
	payload, err := base64.StdEncoding.DecodeString(in.Payload)
	if err != nil {
		http.Error(w, `{"error":{"code":400,"message":"bad payload"}}`, http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.payloads = append(f.payloads, payload)
	f.mu.Unlock()
	sum := sha256.Sum256(payload)
	sig, err := rsa.SignPKCS1v15(rand.Reader, f.key, crypto.SHA256, sum[:])
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"keyId": "test-key", "signedBlob": base64.StdEncoding.EncodeToString(sig)})
}

// take returns and forgets the recorded payloads.
func (f *iamFake) take() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.payloads
	f.payloads = nil
	return p
}

// routeIAM sends requests for the IAM Credentials API to the fake and the
// rest to base.
type routeIAM struct {
	iam  *url.URL
	base http.RoundTripper
}

func (rt routeIAM) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host != "iamcredentials.googleapis.com" {
		return rt.base.RoundTrip(r)
	}
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host, r.Host = rt.iam.Scheme, rt.iam.Host, rt.iam.Host
	return http.DefaultTransport.RoundTrip(r)
}

// With no private key the Signer signs through IAM signBlob. The fake IAM
// endpoint checks it is asked to sign exactly the string-to-sign the
// verifying server rebuilds from the request (and, for POST, exactly the
// base64 policy), and the server accepts the resulting uploads.
func TestSignBlobThroughIAM(t *testing.T) {
	t.Setenv("STORAGE_EMULATOR_HOST", "")
	srv := gcstest.NewServer(t, "presignd-iam")
	iam := newIAMFake(t, srv.GoogleAccessID, srv.Key)
	iamURL, _ := url.Parse(iam.srv.URL)
	client := &http.Client{Transport: routeIAM{iam: iamURL, base: srv.Client().Transport}}
	s, err := gcs.New(t.Context(), gcs.Config{
		Bucket:         srv.Bucket,
		GoogleAccessID: srv.GoogleAccessID,
		Endpoint:       srv.URL,
		HTTPClient:     client,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	body := []byte("signed by IAM")

	t.Run("a PUT URL", func(t *testing.T) {
		target, err := s.SignUpload(ctx, signer.UploadRequest{
			Key: "iam/put.txt", ContentType: "text/plain", Expires: time.Now().Add(time.Minute),
			Checksum: signer.Checksum{Algorithm: signer.MD5, Value: md5Of(body)},
		})
		if err != nil {
			t.Fatal(err)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, target.URL, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range target.Headers {
			req.Header.Set(k, v)
		}
		want, err := gcstest.StringToSign(req)
		if err != nil {
			t.Fatal(err)
		}
		got := iam.take()
		if len(got) != 1 || !bytes.Equal(got[0], want) {
			t.Fatalf("IAM was asked to sign %q, want exactly [%q]", got, want)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("PUT status %d: %s", resp.StatusCode, msg)
		}
	})

	t.Run("a POST policy", func(t *testing.T) {
		target, err := s.SignPostUpload(ctx, signer.UploadRequest{
			Key: "iam/post.txt", ContentType: "text/plain", Size: int64(len(body)), MaxSize: 100, Expires: time.Now().Add(time.Minute),
		})
		if err != nil {
			t.Fatal(err)
		}
		got := iam.take()
		if len(got) != 1 || string(got[0]) != target.FormFields["policy"] {
			t.Fatalf("IAM was asked to sign %q, want exactly the base64 policy %q", got, target.FormFields["policy"])
		}
		resp, err := signertest.Upload(ctx, srv.Client(), target, body)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("POST status %d", resp.StatusCode)
		}
	})

	t.Run("the request's context bounds the IAM call", func(t *testing.T) {
		// It answers nothing until the client goes away (or long after).
		stuck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		}))
		defer stuck.Close()
		stuckURL, _ := url.Parse(stuck.URL)
		slow, err := gcs.New(ctx, gcs.Config{
			Bucket:         srv.Bucket,
			GoogleAccessID: srv.GoogleAccessID,
			Endpoint:       srv.URL,
			HTTPClient:     &http.Client{Transport: routeIAM{iam: stuckURL, base: srv.Client().Transport}},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer slow.Close()
		ctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err = slow.SignUpload(ctx, signer.UploadRequest{Key: "iam/slow.txt", Expires: time.Now().Add(time.Minute)})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("SignUpload: %v, want the context's deadline", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("SignUpload returned after %s", d)
		}
	})

	t.Run("a failing IAM call fails the signing", func(t *testing.T) {
		bad, err := gcs.New(ctx, gcs.Config{
			Bucket:         srv.Bucket,
			GoogleAccessID: "not-allowed@presignd-test.iam.gserviceaccount.com",
			Endpoint:       srv.URL,
			HTTPClient:     &http.Client{Transport: routeIAM{iam: iamURL, base: srv.Client().Transport}},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer bad.Close()
		if _, err := bad.SignDownload(ctx, signer.DownloadRequest{Key: "iam/put.txt", Expires: time.Now().Add(time.Minute)}); err == nil {
			t.Fatal("SignDownload succeeded though IAM refused")
		}
	})
}
