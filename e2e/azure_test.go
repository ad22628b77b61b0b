package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"

	"github.com/presignd/presignd/internal/testenv"
	"github.com/presignd/presignd/signer"
)

// Azurite's well-known development account, used when
// PRESIGND_TEST_AZURE_ACCOUNT is unset.
const (
	azuriteAccount = "devstoreaccount1"
	azuriteKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// azureBackend creates a fresh container on the Azurite (or Azure) account
// named by PRESIGND_TEST_AZURE_* and returns a backend configuration for
// it, with the key in an environment variable; the container goes when t
// ends.
func azureBackend(t *testing.T) map[string]any {
	t.Helper()
	endpoint := testenv.Get(t, "PRESIGND_TEST_AZURE_ENDPOINT", "source .ci/azurite.sh and run azurite_start; .ci/run does")
	account, key := os.Getenv("PRESIGND_TEST_AZURE_ACCOUNT"), os.Getenv("PRESIGND_TEST_AZURE_KEY")
	if account == "" {
		account, key = azuriteAccount, azuriteKey
	}
	cred, err := container.NewSharedKeyCredential(account, key)
	if err != nil {
		t.Fatal(err)
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	name := "presignd-e2e-" + hex.EncodeToString(rnd[:])
	client, err := container.NewClientWithSharedKeyCredential(endpoint+"/"+name, cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Create(context.Background(), nil); err != nil {
		t.Fatalf("create container: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = client.Delete(ctx, nil)
	})
	return map[string]any{"driver": "azure", "azure": map[string]any{
		"account": account, "container": name, "endpoint": endpoint, "account_key": key,
	}}
}

// TestSeedDirectUploadOnAzure runs seed profile 004 on Azurite.
func TestSeedDirectUploadOnAzure(t *testing.T) {
	t.Parallel()
	runDirectUpload(t, startExample(t, "direct-upload", azureBackend(t)), "x-ms-blob-content-disposition")
}

// TestRefusedUploadsOnAzure sends seed 004 uploads that break their target
// to Azurite. A tampered signature or expiry, or bytes that do not match
// the MD5 (also when more or fewer than declared), are refused by Azure:
// CompleteUpload then answers 409 and the file stays PENDING. A service
// SAS cannot bind the Content-Type, so Azure stores an upload of another
// type, and CompleteUpload refuses it: the file is FAILED, its blob gone.
func TestRefusedUploadsOnAzure(t *testing.T) {
	t.Parallel()
	inst := startExample(t, "direct-upload", azureBackend(t))
	body := []byte("exactly these bytes")
	cases := []struct {
		name         string
		send         []byte
		edit         func(target *signer.UploadTarget)
		storedFailed bool // Azure stores it; CompleteUpload fails the file
	}{
		{"a tampered signature", body, func(tg *signer.UploadTarget) { tg.URL = editQuery(t, tg.URL, "sig", flip) }, false},
		{"an expiry moved later", body, func(tg *signer.UploadTarget) {
			tg.URL = editQuery(t, tg.URL, "se", func(string) string { return time.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04:05Z") })
		}, false},
		{"more bytes than declared", append(append([]byte{}, body...), "!!"...), nil, false},
		{"fewer bytes than declared", body[:5], nil, false},
		{"bytes that do not match the MD5", []byte("EXACTLY these bytes"), nil, false},
		{"another content type", body, func(tg *signer.UploadTarget) { tg.Headers["Content-Type"] = "text/html" }, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, created := inst.rest(t, "POST", "/v1/uploads", map[string]any{
				"category": "blob", "filename": "a.txt", "content_type": "text/plain", "size_bytes": len(body),
				"checksum": map[string]any{"algorithm": "CHECKSUM_ALGORITHM_MD5", "value": md5b64(body)},
			})
			if code != http.StatusOK {
				t.Fatalf("CreateUpload: %d %v", code, created)
			}
			target := targetFromJSON(t, created["upload_target"])
			if c.edit != nil {
				c.edit(&target)
			}
			id := str(created, "file.file_id")
			status := upload(t, target, c.send)
			if !c.storedFailed {
				if status/100 == 2 {
					t.Fatalf("Azure accepted the upload: %d", status)
				}
				completeBeforeBytes(t, inst, id)
				return
			}
			if status/100 != 2 {
				t.Fatalf("upload: %d, want Azure to store it", status)
			}
			code, got := inst.rest(t, "POST", "/v1/files/"+id+":complete", nil)
			if str(got, "file.state") == "FILE_STATE_READY" || code == http.StatusOK && str(got, "file.state") != "FILE_STATE_FAILED" {
				t.Fatalf("CompleteUpload of another type: %d %v, want the file FAILED", code, got)
			}
			if code, got := inst.rest(t, "GET", "/v1/files/"+id, nil); code != http.StatusOK || str(got, "file.state") != "FILE_STATE_FAILED" {
				t.Fatalf("file after CompleteUpload: %d %v, want FAILED", code, got)
			}
		})
	}
}

// editQuery replaces the value of the query parameter name in raw with
// edit(value).
func editQuery(t *testing.T, raw, name string, edit func(string) string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if q.Get(name) == "" {
		t.Fatalf("no %s in %s", name, raw)
	}
	q.Set(name, edit(q.Get(name)))
	u.RawQuery = q.Encode()
	return u.String()
}

// flip changes the first character of s.
func flip(s string) string {
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}

// ownAzurite starts bin (azurite-blob) as an Azurite of the test's own on a
// free port, with a container and an account CORS rule allowing every
// origin to send any header with GET, PUT and HEAD, and returns its backend
// configuration. It goes when the test ends.
func ownAzurite(t *testing.T, bin string) map[string]any {
	t.Helper()
	dir := t.TempDir()
	port := freePort(t)
	cmd := exec.Command(bin, "--blobHost", "127.0.0.1", "--blobPort", strconv.Itoa(port),
		"--location", filepath.Join(dir, "data"), "--skipApiVersionCheck", "--silent")
	endpoint := fmt.Sprintf("http://127.0.0.1:%d/%s", port, azuriteAccount)
	startServer(t, "azurite", cmd, endpoint+"?comp=list", func(int) bool { return true }) // 403 to an unsigned request
	cred, err := service.NewSharedKeyCredential(azuriteAccount, azuriteKey)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := service.NewClientWithSharedKeyCredential(endpoint+"/", cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, err = svc.SetProperties(ctx, &service.SetPropertiesOptions{CORS: []*service.CORSRule{{
		AllowedOrigins: to.Ptr("*"), AllowedMethods: to.Ptr("GET,PUT,HEAD"),
		AllowedHeaders: to.Ptr("*"), ExposedHeaders: to.Ptr("*"), MaxAgeInSeconds: to.Ptr[int32](60),
	}}})
	if err != nil {
		t.Fatalf("set the account's CORS rules: %v", err)
	}
	if _, err := svc.NewContainerClient("uploads").Create(ctx, nil); err != nil {
		t.Fatalf("create container: %v", err)
	}
	return map[string]any{"driver": "azure", "azure": map[string]any{
		"account": azuriteAccount, "container": "uploads", "endpoint": endpoint, "account_key": azuriteKey,
	}}
}

// startServer starts cmd, a server the test owns, and waits until url
// answers with a status ready accepts; the server is killed when the test
// ends. A server that exits first fails the test with its output.
func startServer(t *testing.T, name string, cmd *exec.Cmd, url string, ready func(status int) bool) {
	t.Helper()
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	eventually(t, 60*time.Second, func() (bool, string) {
		select {
		case <-exited:
			t.Fatalf("%s exited during start:\n%s", name, log.String())
		default:
		}
		resp, err := http.Get(url)
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return ready(resp.StatusCode), resp.Status
	})
}
