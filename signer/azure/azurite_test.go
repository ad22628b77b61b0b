package azure

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/presignd/presignd/internal/testenv"
	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/signer/signertest"
)

// DevAccount and DevKey are Azurite's well-known development account and
// its published key.
const (
	DevAccount = "devstoreaccount1"
	DevKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// httpClient sends the tests' requests to signed targets.
var httpClient = &http.Client{Timeout: 30 * time.Second}

// serverConfig reads the Azurite (or Azure) account of the tests from
// PRESIGND_TEST_AZURE_*, skipping (failing in CI) when it is unset.
func serverConfig(t *testing.T) Config {
	t.Helper()
	endpoint := testenv.Get(t, "PRESIGND_TEST_AZURE_ENDPOINT", "source .ci/azurite.sh and run azurite_start to test against Azurite")
	cfg := Config{
		Endpoint:   endpoint,
		Account:    os.Getenv("PRESIGND_TEST_AZURE_ACCOUNT"),
		AccountKey: os.Getenv("PRESIGND_TEST_AZURE_KEY"),
	}
	if cfg.Account == "" {
		cfg.Account, cfg.AccountKey = DevAccount, DevKey
	}
	return cfg
}

// newServerSigner returns a Signer on a fresh container of the test
// server; the container and its blobs go when the test ends. edit, when
// not nil, adjusts the Config first.
func newServerSigner(t *testing.T, edit func(*Config)) *Signer {
	t.Helper()
	cfg := serverConfig(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	cfg.Container = "presignd-test-" + hex.EncodeToString(b[:])
	if edit != nil {
		edit(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx := context.Background()
	if _, err := s.client.Create(ctx, nil); err != nil {
		t.Fatalf("create container %s: %v", cfg.Container, err)
	}
	t.Cleanup(func() {
		if _, err := s.client.Delete(context.Background(), &container.DeleteOptions{}); err != nil {
			t.Errorf("delete container %s: %v", cfg.Container, err)
		}
	})
	return s
}

// TestConformance runs the shared signer suite against the Azurite (or
// Azure) account named by PRESIGND_TEST_AZURE_* (skipped when unset), one
// fresh container per case.
func TestConformance(t *testing.T) {
	serverConfig(t)
	signertest.Run(t, func(t *testing.T) signertest.Harness {
		return harness{s: newServerSigner(t, nil)}
	})
}

type harness struct{ s *Signer }

func (h harness) Signer() signer.Signer    { return h.s }
func (h harness) HTTPClient() *http.Client { return httpClient }
func (h harness) Close()                   {} // the container goes with the test's Cleanup
func (h harness) Capabilities() signertest.Capabilities {
	return signertest.Capabilities{
		// A service SAS signs no request header: another type is stored
		// as sent, and a body of any length is accepted; Stat reports both.
		ContentTypeUnbound: true,
		// Content-MD5 is verified by Azure against the body.
		Checksums:      []string{signer.MD5},
		SignatureParam: "sig",
		// ReadObject and WriteObject (ObjectReader, ObjectWriter).
		Objects: true,
		// Put Block to a staging blob, joined and copied to the key.
		Multipart:          true,
		MultipartLister:    true,
		PartsWithoutETag:   true,
		PartNumberUnsigned: true,
		PartsAfterAbort:    true,
	}
}

func randomHex() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
