// Package signertest is the conformance suite every signer driver must pass.
// It drives real HTTP uploads and downloads to the targets a driver signs,
// so a driver is proven against its real (or faithfully verifying) server.
//
// A driver's test builds a Harness and calls Run:
//
//	func TestConformance(t *testing.T) {
//		signertest.Run(t, func(t *testing.T) signertest.Harness { return newHarness(t) })
//	}
//
// The cases cover: uploads that follow the target are accepted and Stat
// describes them (size, content type, ETag, bound checksum); downloads
// return the bytes with the stored or the signed response headers; another
// Content-Type, a wrong checksum, a tampered signature or signed query
// parameter, an expired target, another method and another key are refused
// (another Content-Type stored as sent and reported by Stat where the
// backend cannot bind it);
// MaxSize on PUT and POST; Stat, Delete and ErrNotFound; a target used
// again after Delete (refused where the backend revokes); and keys
// signer.ValidateKey rejects wrap signer.ErrInvalidKey in every method;
// ranged reads (ObjectReader) and writes (ObjectWriter) that store whole
// objects or nothing.
//
// Upload sends bytes to a target exactly as it says, for other packages'
// end-to-end tests too.
package signertest

import (
	"net/http"

	"github.com/presignd/presignd/signer"
)

// Harness gives the suite a driver and the means to reach its server.
type Harness interface {
	// Signer returns the driver under test, configured against a fresh,
	// empty bucket or directory.
	Signer() signer.Signer
	// HTTPClient sends the suite's requests to signed targets.
	HTTPClient() *http.Client
	// Capabilities tells the suite which optional behaviour to expect.
	Capabilities() Capabilities
	// Close releases what the harness started.
	Close()
}

// Capabilities are the behaviours that differ between backends.
type Capabilities struct {
	// PostPolicy: the signer implements signer.PostPolicySigner.
	PostPolicy bool
	// EnforcesPutMaxSize: a PUT of more than MaxSize bytes is refused while
	// uploading (true for local; false for S3 and GCS, where CompleteUpload's
	// Stat catches it).
	EnforcesPutMaxSize bool
	// ContentTypeUnbound: the backend cannot refuse a PUT that sends
	// another Content-Type than the target's (Azure: a service SAS signs
	// no request header). It stores the type sent and Stat must report
	// it, so that CompleteUpload refuses the upload.
	ContentTypeUnbound bool
	// Checksums lists the algorithms the backend binds on PUT uploads;
	// SignUpload must refuse the others with signer.ErrUnsupported.
	Checksums []string
	// RevokesOnDelete: after Delete, the key's upload targets are refused
	// with 410 and its download URLs answer 410 (local). S3 and GCS cannot
	// revoke a signed URL: a target used again stores the bytes.
	RevokesOnDelete bool
	// Multipart: the signer implements signer.MultipartUploader; the
	// multipart cases run (and fail if the two disagree).
	Multipart bool
	// Objects: the signer implements signer.ObjectReader and
	// signer.ObjectWriter; the cases reading and writing objects run (and
	// fail if the two disagree).
	Objects bool
	// MultipartLister: the signer implements signer.MultipartLister.
	MultipartLister bool
	// PartChecksums lists the part checksum algorithms (SHA256, CRC32C)
	// the backend binds into part targets; CreateMultipart must refuse the
	// others with signer.ErrUnsupported.
	PartChecksums []string
	// PartsWithoutETag: a part PUT answers no ETag and ListParts reports
	// none (Azure: Put Block answers none, and Get Block List reports
	// block ids and sizes only). The cases then tell parts apart by their
	// sizes and by the bytes of the completed object.
	PartsWithoutETag bool
	// PartNumberUnsigned: a part target carries its part number unsigned
	// (Azure's block id), so its holder can send the bytes as another part
	// of the same upload, never to another upload or to the object.
	PartNumberUnsigned bool
	// PartsAfterAbort: a part target used after AbortMultipart stores its
	// bytes somewhere no completion takes them from (Azure: Put Block makes
	// a blob of uncommitted blocks, discarded after a week); ListParts and
	// CompleteMultipart still say the upload is gone.
	PartsAfterAbort bool
	// EnforcesPartSize: a part body of another size than the target's
	// PartRequest.Size is refused (local, and backends that sign
	// Content-Length).
	EnforcesPartSize bool
	// SignatureParam names the query parameter (and POST form field) that
	// carries the signature, for the tampering cases. Empty means the suite
	// looks for X-Amz-Signature, X-Goog-Signature or signature, in any case.
	SignatureParam string
}
