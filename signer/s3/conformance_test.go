package s3

import (
	"net/http"
	"testing"

	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/signer/signertest"
)

// TestConformance runs the shared signer suite against the S3 server named
// by PRESIGND_TEST_S3_* (skipped when unset), one fresh bucket per case.
func TestConformance(t *testing.T) {
	serverConfig(t)
	signertest.Run(t, func(t *testing.T) signertest.Harness {
		return harness{s: newServerSigner(t, nil)}
	})
}

type harness struct{ s *Signer }

func (h harness) Signer() signer.Signer    { return h.s }
func (h harness) HTTPClient() *http.Client { return httpClient }
func (h harness) Close()                   {} // the bucket goes with the test's Cleanup
func (h harness) Capabilities() signertest.Capabilities {
	return signertest.Capabilities{
		PostPolicy: true,
		// Content-Length is a signed header whenever the declared size is
		// positive, so MinIO refuses any other length (403).
		EnforcesPutMaxSize: true,
		Checksums:          []string{signer.SHA256, signer.MD5},
		Multipart:          true,
		MultipartLister:    true,
		Objects:            true,
		PartChecksums:      []string{signer.SHA256, signer.CRC32C},
		// A part's Content-Length is signed like a PUT's.
		EnforcesPartSize: true,
		SignatureParam:   "X-Amz-Signature",
	}
}
