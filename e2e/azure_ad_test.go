package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/presignd/presignd/internal/testenv"
	"github.com/presignd/presignd/signer/signertest"
)

// TestDirectUploadOnAzureWithoutAKey runs a seed 004 upload and download
// through presignd with an Azure backend of auth azure_ad, on the Azurite
// that takes OAuth over HTTPS: presignd holds no account key. Its
// DefaultAzureCredential finds a managed identity (the App Service style
// IDENTITY_ENDPOINT this test serves, handing out tokens of the shape
// Azurite checks) and presignd signs user delegation SAS, which Azurite
// takes for the upload and the download.
//
// It sets presignd's environment through the test's (t.Setenv), so it does
// not run in parallel.
func TestDirectUploadOnAzureWithoutAKey(t *testing.T) {
	const hint = "source .ci/azurite.sh and run azurite_start_oauth (after azurite_start); .ci/run does"
	endpoint := testenv.Get(t, "PRESIGND_TEST_AZURE_OAUTH_ENDPOINT", hint)
	caFile := testenv.Get(t, "PRESIGND_TEST_AZURE_OAUTH_CA", hint)
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("%s holds no PEM certificate", caFile)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}

	// The managed identity endpoint.
	const oid, tenant, secret = "3f2504e0-4f89-41d3-9a0c-0305e82c3301", "72f988bf-86f1-41af-91ab-2d7cd011db47", "e2e-identity-header"
	var tokens atomic.Int32
	identity := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-IDENTITY-HEADER") != secret {
			http.Error(w, "missing X-IDENTITY-HEADER", http.StatusUnauthorized)
			return
		}
		tokens.Add(1)
		now := time.Now()
		exp := now.Add(time.Hour)
		claims, _ := json.Marshal(map[string]any{
			"aud": "https://storage.azure.com", "iss": "https://sts.windows.net/" + tenant + "/",
			"iat": now.Add(-time.Minute).Unix(), "nbf": now.Add(-time.Minute).Unix(), "exp": exp.Unix(),
			"oid": oid, "tid": tenant,
		})
		enc := base64.RawURLEncoding
		jwt := enc.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + enc.EncodeToString(claims) + "." + enc.EncodeToString([]byte("unsigned"))
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{
			"access_token": jwt, "expires_on": strconv.FormatInt(exp.Unix(), 10),
			"resource": r.URL.Query().Get("resource"), "token_type": "Bearer",
		})
	}))
	t.Cleanup(identity.Close)
	t.Setenv("IDENTITY_ENDPOINT", identity.URL+"/msi/token")
	t.Setenv("IDENTITY_HEADER", secret)
	t.Setenv("SSL_CERT_FILE", caFile) // presignd's system roots: Azurite's certificate
	// No other credential of the environment comes first (set, even
	// empty, AZURE_CLIENT_ID would name a user-assigned identity).
	for _, v := range []string{"AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE", "MSI_ENDPOINT"} {
		if old, ok := os.LookupEnv(v); ok {
			_ = os.Unsetenv(v)
			t.Cleanup(func() { _ = os.Setenv(v, old) })
		}
	}

	// The container, made with Azurite's development key (which presignd
	// is not given).
	cred, err := container.NewSharedKeyCredential(azuriteAccount, azuriteKey)
	if err != nil {
		t.Fatal(err)
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	name := "presignd-e2e-ad-" + hex.EncodeToString(rnd[:])
	cc, err := container.NewClientWithSharedKeyCredential(endpoint+"/"+name, cred, &container.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: client}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cc.Create(t.Context(), nil); err != nil {
		t.Fatalf("create container: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = cc.Delete(ctx, nil)
	})

	inst := startExample(t, "direct-upload", map[string]any{"driver": "azure", "azure": map[string]any{
		"account": azuriteAccount, "container": name, "endpoint": endpoint, "auth": "azure_ad",
	}})
	body := bytes.Repeat([]byte("delegated blob "), 100)
	code, created := inst.rest(t, "POST", "/v1/uploads", map[string]any{
		"category": "blob", "filename": "report.pdf", "content_type": "application/pdf", "size_bytes": len(body),
		"checksum": map[string]any{"algorithm": "CHECKSUM_ALGORITHM_MD5", "value": md5b64(body)},
	})
	if code != http.StatusOK {
		t.Fatalf("CreateUpload: %d %v", code, created)
	}
	target := targetFromJSON(t, created["upload_target"])
	u, err := url.Parse(target.URL)
	if err != nil {
		t.Fatal(err)
	}
	if q := u.Query(); q.Get("skoid") != oid || q.Get("sktid") != tenant || q.Get("sp") != "c" {
		t.Fatalf("upload target %s is not a create-only user delegation SAS of object %s", u.Path, oid)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	resp, err := signertest.Upload(ctx, client, target, body)
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %d, want 201", resp.StatusCode)
	}
	id := str(created, "file.file_id")
	completeREST(t, inst, id)

	code, dl := inst.rest(t, "POST", "/v1/files/"+id+":download", map[string]any{"disposition": "attachment"})
	if code != http.StatusOK {
		t.Fatalf("CreateDownloadUrl: %d %v", code, dl)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, str(dl, "url"), nil)
	resp, err = client.Do(req)
	if err != nil {
		t.Fatalf("download: %v", err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, body) {
		t.Fatalf("download: %d, %d bytes, want 200 and the %d bytes uploaded", resp.StatusCode, len(got), len(body))
	}
	if cd := resp.Header.Get("Content-Disposition"); cd != `attachment; filename="report.pdf"` {
		t.Errorf("Content-Disposition = %q", cd)
	}
	if tokens.Load() == 0 {
		t.Error("presignd never asked the managed identity endpoint for a token")
	}
}
