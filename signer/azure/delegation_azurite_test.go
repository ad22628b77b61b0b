package azure

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/presignd/presignd/internal/testenv"
	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/signer/signertest"
)

// testTenant and testOID are the Entra ID tenant and object the tests'
// tokens name.
const (
	testTenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	testOID    = "0b5e3f2a-8c1d-4f7e-9a6b-2d3c4e5f6a7b"
)

// jwtCredential hands out unsigned JWTs of the shape Azurite's basic OAuth
// checks (issuer, audience, lifetime; not the signature), naming oid.
type jwtCredential struct{ oid string }

func (c jwtCredential) GetToken(_ context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	now := time.Now()
	exp := now.Add(time.Hour)
	claims, _ := json.Marshal(map[string]any{
		"aud": "https://storage.azure.com",
		"iss": "https://sts.windows.net/" + testTenant + "/",
		"iat": now.Add(-time.Minute).Unix(),
		"nbf": now.Add(-time.Minute).Unix(),
		"exp": exp.Unix(),
		"oid": c.oid,
		"tid": testTenant,
		"scp": "user_impersonation",
	})
	enc := base64.RawURLEncoding
	token := enc.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + enc.EncodeToString(claims) + "." + enc.EncodeToString([]byte("unsigned"))
	return azcore.AccessToken{Token: token, ExpiresOn: exp}, nil
}

// oauthConfig reads the HTTPS, OAuth Azurite of the tests from
// PRESIGND_TEST_AZURE_OAUTH_*, skipping (failing in CI) when it is unset,
// and returns a Config with a Credential and an HTTP client trusting
// Azurite's certificate.
func oauthConfig(t *testing.T) (Config, *http.Client) {
	t.Helper()
	const hint = "source .ci/azurite.sh and run azurite_start_oauth (after azurite_start) to test user delegation SAS against Azurite over HTTPS"
	endpoint := testenv.Get(t, "PRESIGND_TEST_AZURE_OAUTH_ENDPOINT", hint)
	caFile := testenv.Get(t, "PRESIGND_TEST_AZURE_OAUTH_CA", hint)
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatalf("PRESIGND_TEST_AZURE_OAUTH_CA: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("PRESIGND_TEST_AZURE_OAUTH_CA %s holds no PEM certificate", caFile)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	return Config{
		Endpoint:   endpoint,
		Account:    DevAccount,
		Credential: jwtCredential{oid: testOID},
		HTTPClient: client,
	}, client
}

// newDelegatedSigner returns a Signer with a Credential on a fresh
// container of the OAuth Azurite, and the HTTP client to reach it; the
// container goes when the test ends. edit, when not nil, adjusts the
// Config first.
func newDelegatedSigner(t *testing.T, edit func(*Config)) (*Signer, *http.Client) {
	t.Helper()
	cfg, client := oauthConfig(t)
	cfg.Container = "presignd-ud-" + randomHex()
	if edit != nil {
		edit(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if _, err := s.client.Create(context.Background(), nil); err != nil {
		t.Fatalf("create container %s: %v", cfg.Container, err)
	}
	t.Cleanup(func() {
		if _, err := s.client.Delete(context.Background(), &container.DeleteOptions{}); err != nil {
			t.Errorf("delete container %s: %v", cfg.Container, err)
		}
	})
	return s, client
}

// TestDelegatedConformance runs the shared signer suite with user
// delegation SAS against the OAuth Azurite, one fresh container per case:
// the same capabilities as shared key signing.
func TestDelegatedConformance(t *testing.T) {
	oauthConfig(t)
	signertest.Run(t, func(t *testing.T) signertest.Harness {
		s, client := newDelegatedSigner(t, nil)
		return delegatedHarness{harness: harness{s: s}, client: client}
	})
}

type delegatedHarness struct {
	harness
	client *http.Client
}

func (h delegatedHarness) HTTPClient() *http.Client { return h.client }

// tamperedKeys hands out the keys of src changed by edit.
type tamperedKeys struct {
	src  keySource
	edit func(*delegationKey)
}

func (k tamperedKeys) userDelegationKey(ctx context.Context, start, expiry time.Time) (delegationKey, error) {
	dk, err := k.src.userDelegationKey(ctx, start, expiry)
	if err == nil {
		k.edit(&dk)
	}
	return dk, err
}

// TestDelegatedSASRefusedByAzurite: Azurite takes an upload target and a
// download URL signed with the delegation key it handed out, and refuses
// (403) those signed with a tampered key value, naming another object id
// than the key's, or expired.
func TestDelegatedSASRefusedByAzurite(t *testing.T) {
	good, client := newDelegatedSigner(t, nil)
	ctx := t.Context()
	body := []byte("delegated")
	put := func(s *Signer, key string) int {
		t.Helper()
		target, err := s.SignUpload(ctx, signer.UploadRequest{Key: key, ContentType: "text/plain", Size: int64(len(body)), Expires: s.now().Add(10 * time.Minute)})
		if err != nil {
			t.Fatalf("SignUpload: %v", err)
		}
		req, _ := http.NewRequestWithContext(ctx, target.Method, target.URL, bytes.NewReader(body))
		for k, v := range target.Headers {
			req.Header.Set(k, v)
		}
		return do(t, client, req)
	}
	get := func(s *Signer, key string) int {
		t.Helper()
		raw, err := s.SignDownload(ctx, signer.DownloadRequest{Key: key, Expires: s.now().Add(10 * time.Minute)})
		if err != nil {
			t.Fatalf("SignDownload: %v", err)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
		return do(t, client, req)
	}
	if code := put(good, "kept.txt"); code != http.StatusCreated {
		t.Fatalf("PUT with the key Azurite handed out: %d, want 201", code)
	}
	if code := get(good, "kept.txt"); code != http.StatusOK {
		t.Fatalf("GET with the key Azurite handed out: %d, want 200", code)
	}

	for _, tc := range []struct {
		name string
		edit func(*delegationKey)
		now  time.Duration // signing clock offset
	}{
		{"a tampered key value", func(k *delegationKey) { k.Value[0] ^= 1 }, 0},
		{"another object id than the key's", func(k *delegationKey) { k.OID = "11111111-2222-3333-4444-555555555555" }, 0},
		{"another key start than the key's", func(k *delegationKey) { k.Start = k.Start.Add(-time.Second) }, 0},
		{"an expired SAS", func(*delegationKey) {}, -2 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _ := oauthConfig(t)
			cfg.Container = good.container
			at := time.Now().Add(tc.now)
			cfg.Now = func() time.Time { return at }
			bad, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			bad.ud.src = tamperedKeys{src: bad.ud.src, edit: tc.edit}
			if code := put(bad, "new-"+randomHex()); code != http.StatusForbidden {
				t.Errorf("PUT: %d, want 403", code)
			}
			if code := get(bad, "kept.txt"); code != http.StatusForbidden {
				t.Errorf("GET: %d, want 403", code)
			}
		})
	}
}

// TestDelegatedLongestExpiry: a download URL living MaxDelegatedExpiry is
// signed with a key that covers it and Azurite takes it; a second longer
// is refused with ErrUnsupported.
func TestDelegatedLongestExpiry(t *testing.T) {
	s, client := newDelegatedSigner(t, nil)
	ctx := t.Context()
	if err := s.WriteObject(ctx, "long.txt", strings.NewReader("long"), 4, "text/plain"); err != nil {
		t.Fatalf("WriteObject: %v", err)
	}
	now := time.Now()
	raw, err := s.SignDownload(ctx, signer.DownloadRequest{Key: "long.txt", Expires: now.Add(MaxDelegatedExpiry)})
	if err != nil {
		t.Fatal(err)
	}
	q := sasOf(t, raw)
	if se, ske := sasTime(t, q, "se"), sasTime(t, q, "ske"); se.After(ske) || se.Before(now.Add(MaxDelegatedExpiry-time.Second)) {
		t.Errorf("se %s, ske %s: want se about %s ahead and no later than ske", se, ske, MaxDelegatedExpiry)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if code := do(t, client, req); code != http.StatusOK {
		t.Errorf("GET: %d, want 200", code)
	}
	if _, err := s.SignDownload(ctx, signer.DownloadRequest{Key: "long.txt", Expires: now.Add(MaxDelegatedExpiry + 2*time.Second)}); !errors.Is(err, signer.ErrUnsupported) {
		t.Errorf("an expiry beyond MaxDelegatedExpiry: error %v, want ErrUnsupported", err)
	}
}

// TestDelegatedPing: with a Credential, Ping and Probe read the container
// with a bearer token.
func TestDelegatedPing(t *testing.T) {
	s, _ := newDelegatedSigner(t, nil)
	at, err := s.Ping(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(at); d > time.Minute || d < -time.Minute {
		t.Errorf("Azurite's Date %s is %s from ours", at, d)
	}
}

func do(t *testing.T, client *http.Client, req *http.Request) int {
	t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, redact(req.URL), err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// redact drops the signature from u for logs.
func redact(u *url.URL) string {
	q := u.Query()
	if q.Has("sig") {
		q.Set("sig", "REDACTED")
	}
	return strings.SplitN(u.String(), "?", 2)[0] + "?" + q.Encode()
}
