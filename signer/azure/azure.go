// Package azure is the signer for Azure Blob Storage (and Azurite, its
// emulator), built on the Azure SDK for Go (sdk/storage/azblob and its sas
// package).
//
// Targets are SAS URLs for one blob each (sr=b), so a URL signed for one
// key cannot reach another: service SAS signed with the storage account's
// shared key (Config.AccountKey), as the SDK's
// sas.BlobSignatureValues.SignWithSharedKey signs them, or, with no account
// key at all, user delegation SAS signed with a key Azure hands out for a
// Microsoft Entra ID token (Config.Credential), as SignWithUserDelegation
// signs them (see delegation.go for the key's lifetime and renewal).
//
// What an Azure upload target binds, and what it cannot:
//
//   - PUT (Put Blob): the SAS grants create only (sp=c) on the one blob,
//     until the expiry (se). Create writes a blob that does not exist: a
//     target cannot replace an object already stored at its key, so an
//     upload completed and verified cannot be overwritten with the same
//     URL. The client sends x-ms-blob-type: BlockBlob, the Content-Type,
//     the Content-Disposition as x-ms-blob-content-disposition and, for an
//     MD5 checksum, Content-MD5, which Azure verifies against the body (400
//     Md5Mismatch when they differ).
//   - A service SAS signs no request header: Azure cannot refuse a PUT
//     that sends another Content-Type, leaves out Content-MD5, or sends a
//     body of another size. Those uploads are stored as sent, and Stat
//     reports what was stored (the type, the size and the MD5 Azure
//     computed), so CompleteUpload refuses them. SHA256 and CRC32C
//     checksums cannot be bound at all (ErrUnsupported).
//   - GET: read only (sp=r), with the response content disposition and
//     type overrides signed into the SAS (rscd, rsct).
//
// Stat reports the MD5 only of a blob written whole by Put Blob, where
// Azure computes or verifies it; a blob committed from blocks (Put Block
// List) carries whatever MD5 its committer declared, so Stat leaves it
// out.
package azure

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"

	"github.com/presignd/presignd/signer"
)

// MaxExpiry is the longest a target this package signs may live. Azure
// sets no limit on a service SAS; presignd keeps the S3 one.
const MaxExpiry = 7 * 24 * time.Hour

// MaxPutSize is the largest blob one Put Blob stores (5,000 MiB).
const MaxPutSize = 5000 << 20

// Config configures a Signer.
type Config struct {
	// Account is the storage account name. Required.
	Account string
	// AccountKey is the account's shared key, base64. Exactly one of
	// AccountKey and Credential is required.
	AccountKey string
	// Credential authenticates the signer to Azure with Microsoft Entra ID
	// (such as azidentity.NewDefaultAzureCredential: managed identity,
	// workload identity, a client secret in the environment) instead of
	// the shared key. Targets are then user delegation SAS; the identity
	// needs a role allowing Get User Delegation Key and the data actions
	// presignd performs (Storage Blob Data Contributor). The endpoint must
	// be https.
	Credential azcore.TokenCredential
	// Container holds every object this signer names. Required.
	Container string
	// Endpoint is the account's blob service URL, such as
	// "http://127.0.0.1:10000/devstoreaccount1" for Azurite. Empty means
	// https://<Account>.blob.core.windows.net.
	Endpoint string
	// HTTPClient sends the signer's own requests (Stat, Delete, reads and
	// writes); nil means the SDK's default.
	HTTPClient *http.Client
	// Now returns the signing time; nil means time.Now. For tests.
	Now func() time.Time
}

// Signer signs Azure Blob targets and looks at blobs. It implements
// signer.Signer, signer.ObjectReader and signer.ObjectWriter and is safe
// for concurrent use.
type Signer struct {
	account      string
	container    string
	containerURL string // endpoint/container, no trailing slash
	sas          *sasSigner
	client       *container.Client
	svc          *service.Client
	now          func() time.Time

	// ud signs user delegation SAS with a Credential, instead of sas.
	ud *udSigner
}

var (
	_ signer.Signer       = (*Signer)(nil)
	_ signer.ObjectReader = (*Signer)(nil)
	_ signer.ObjectWriter = (*Signer)(nil)
)

// New returns a Signer for cfg. It fails, naming the field, when Account
// or Container is missing or malformed, AccountKey and Credential are both
// set or both missing, AccountKey is not base64, or Endpoint is not an
// http(s) URL (https with a Credential). It does not contact Azure: with a
// Credential the first signature fetches the delegation key.
func New(cfg Config) (*Signer, error) {
	switch {
	case cfg.Account == "":
		return nil, errors.New("azure: Config.Account is required")
	case cfg.AccountKey != "" && cfg.Credential != nil:
		return nil, errors.New("azure: Config.AccountKey and Config.Credential are both set; set one")
	case cfg.AccountKey == "" && cfg.Credential == nil:
		return nil, errors.New("azure: Config.AccountKey or Config.Credential is required")
	case cfg.Container == "":
		return nil, errors.New("azure: Config.Container is required")
	case !validContainer(cfg.Container):
		return nil, fmt.Errorf("azure: Config.Container %q is not a container name (3-63 lowercase letters, digits and single hyphens)", cfg.Container)
	}
	if cfg.Credential == nil {
		if _, err := base64.StdEncoding.DecodeString(cfg.AccountKey); err != nil {
			return nil, errors.New("azure: Config.AccountKey is not base64")
		}
	}
	endpoint := strings.TrimRight(cfg.Endpoint, "/")
	if endpoint == "" {
		endpoint = "https://" + cfg.Account + ".blob.core.windows.net"
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		return nil, fmt.Errorf("azure: Config.Endpoint %q is not an http or https URL", cfg.Endpoint)
	}
	if cfg.Credential != nil && u.Scheme != "https" {
		return nil, fmt.Errorf("azure: Config.Endpoint %q is not https, which a Credential's bearer tokens need", cfg.Endpoint)
	}
	var co azcore.ClientOptions
	var opts *container.ClientOptions
	var svcOpts *service.ClientOptions
	if cfg.HTTPClient != nil {
		co = azcore.ClientOptions{Transport: cfg.HTTPClient}
		opts = &container.ClientOptions{ClientOptions: co}
		svcOpts = &service.ClientOptions{ClientOptions: co}
	}
	containerURL := endpoint + "/" + cfg.Container
	protocol := sas.ProtocolHTTPS
	if u.Scheme == "http" {
		protocol = sas.ProtocolHTTPSandHTTP // Azurite
	}
	var (
		client *container.Client
		svc    *service.Client
		fast   *sasSigner
		ud     *udSigner
	)
	if cfg.Credential != nil {
		if client, err = container.NewClient(containerURL, cfg.Credential, opts); err != nil {
			return nil, fmt.Errorf("azure: container client: %w", err)
		}
		if svc, err = service.NewClient(endpoint+"/", cfg.Credential, svcOpts); err != nil {
			return nil, fmt.Errorf("azure: service client: %w", err)
		}
		ud = newUDSigner(cfg.Account, cfg.Container, protocol, newAzureKeySource(endpoint, cfg.Credential, co), cfg.Now)
	} else {
		cred, err := container.NewSharedKeyCredential(cfg.Account, cfg.AccountKey)
		if err != nil {
			return nil, fmt.Errorf("azure: shared key: %w", err)
		}
		if client, err = container.NewClientWithSharedKeyCredential(containerURL, cred, opts); err != nil {
			return nil, fmt.Errorf("azure: container client: %w", err)
		}
		if svc, err = service.NewClientWithSharedKeyCredential(endpoint+"/", cred, svcOpts); err != nil {
			return nil, fmt.Errorf("azure: service client: %w", err)
		}
		if fast, err = newSASSigner(cfg.Account, cfg.Container, cfg.AccountKey, protocol); err != nil {
			return nil, fmt.Errorf("azure: shared key: %w", err)
		}
	}
	s := &Signer{
		sas:          fast,
		ud:           ud,
		account:      cfg.Account,
		container:    cfg.Container,
		containerURL: containerURL,
		client:       client,
		svc:          svc,
		now:          cfg.Now,
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.ud != nil {
		s.ud.now = s.now
	}
	return s, nil
}

// validContainer reports whether name follows Azure's container naming
// rules: 3 to 63 characters, lowercase letters, digits and hyphens, starting
// and ending with a letter or digit, no two hyphens in a row.
func validContainer(name string) bool {
	if len(name) < 3 || len(name) > 63 || name[0] == '-' || name[len(name)-1] == '-' || strings.Contains(name, "--") {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// SignUpload returns a Put Blob target for req (see the package comment for
// what it binds). It fails with an error wrapping signer.ErrInvalidKey for
// a bad key, signer.ErrUnsupported for a SHA256 or CRC32C checksum, a Size
// above MaxPutSize or an expiry beyond MaxExpiry (MaxDelegatedExpiry with a
// Credential), signer.ErrUnavailable when no user delegation key could be
// fetched, and a plain error for an
// expiry not in the future, a malformed MD5, a header value that is not
// printable ASCII, or a Size above MaxSize.
func (s *Signer) SignUpload(ctx context.Context, req signer.UploadRequest) (signer.UploadTarget, error) {
	t := s.now().UTC()
	expires, err := checkUpload(req, t)
	if err != nil {
		return signer.UploadTarget{}, err
	}
	q, err := s.token(ctx, req.Key, "c", t, expires, "", "")
	if err != nil {
		return signer.UploadTarget{}, fmt.Errorf("azure: sign upload %s: %w", req.Key, err)
	}
	h := make(map[string]string, 4)
	h["x-ms-blob-type"] = "BlockBlob"
	if req.ContentType != "" {
		h["Content-Type"] = req.ContentType
	}
	if req.ContentDisposition != "" {
		h["x-ms-blob-content-disposition"] = req.ContentDisposition
	}
	if req.Checksum.Algorithm == signer.MD5 {
		h["Content-MD5"] = req.Checksum.Value
	}
	return signer.UploadTarget{
		Method:  http.MethodPut,
		URL:     s.blobURL(req.Key) + "?" + q,
		Headers: h,
		Expires: expires,
	}, nil
}

// SignDownload returns a read-only SAS URL for req, with the response
// overrides signed in (rscd, rsct). It fails like SignUpload for a bad key,
// expiry, header value or delegation key fetch.
func (s *Signer) SignDownload(ctx context.Context, req signer.DownloadRequest) (string, error) {
	t := s.now().UTC()
	if err := signer.ValidateKey(req.Key); err != nil {
		return "", fmt.Errorf("azure: sign download: %w", err)
	}
	if err := checkHeaderValue("ResponseContentType", req.ResponseContentType); err != nil {
		return "", fmt.Errorf("azure: sign download %s: %w", req.Key, err)
	}
	if err := checkHeaderValue("ResponseContentDisposition", req.ResponseContentDisposition); err != nil {
		return "", fmt.Errorf("azure: sign download %s: %w", req.Key, err)
	}
	expires, err := expiry(req.Expires, t)
	if err != nil {
		return "", fmt.Errorf("azure: sign download %s: %w", req.Key, err)
	}
	q, err := s.token(ctx, req.Key, "r", t, expires, req.ResponseContentDisposition, req.ResponseContentType)
	if err != nil {
		return "", fmt.Errorf("azure: sign download %s: %w", req.Key, err)
	}
	return s.blobURL(req.Key) + "?" + q, nil
}

// blobURL returns the URL of the blob at key: each path segment
// percent-encoded, the slashes kept.
func (s *Signer) blobURL(key string) string {
	var b strings.Builder
	b.Grow(len(s.containerURL) + 1 + len(key) + len(key)/4)
	b.WriteString(s.containerURL)
	for seg := range strings.SplitSeq(key, "/") {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(seg))
	}
	return b.String()
}

// Stat describes the blob at key with Get Blob Properties. ETag is
// returned without quotes; Checksums holds MD5 for a blob written whole
// (see the package comment). A missing blob gives an error wrapping
// signer.ErrNotFound; an Azure that cannot be reached or fails (5xx, 429),
// one wrapping signer.ErrUnavailable.
func (s *Signer) Stat(ctx context.Context, key string) (signer.ObjectInfo, error) {
	if err := signer.ValidateKey(key); err != nil {
		return signer.ObjectInfo{}, fmt.Errorf("azure: stat: %w", err)
	}
	bc := s.client.NewBlockBlobClient(key)
	props, err := bc.GetProperties(ctx, nil)
	if err != nil {
		return signer.ObjectInfo{}, s.fail(ctx, "stat", key, err)
	}
	info := signer.ObjectInfo{
		Checksums: map[string]string{},
	}
	if props.ContentLength != nil {
		info.Size = *props.ContentLength
	}
	if props.ContentType != nil {
		info.ContentType = *props.ContentType
	}
	if props.ETag != nil {
		info.ETag = strings.Trim(string(*props.ETag), `"`)
	}
	if props.LastModified != nil {
		info.Modified = *props.LastModified
	}
	if len(props.ContentMD5) == 16 {
		whole, err := s.writtenWhole(ctx, bc)
		if err != nil {
			return signer.ObjectInfo{}, s.fail(ctx, "stat", key, err)
		}
		if whole {
			info.Checksums[signer.MD5] = base64.StdEncoding.EncodeToString(props.ContentMD5)
		}
	}
	return info, nil
}

// writtenWhole reports whether the blob has no committed blocks, that is,
// was written by Put Blob, whose MD5 Azure computed or verified.
func (s *Signer) writtenWhole(ctx context.Context, bc *blockblob.Client) (bool, error) {
	bl, err := bc.GetBlockList(ctx, blockblob.BlockListTypeCommitted, nil)
	if err != nil {
		return false, err
	}
	return len(bl.CommittedBlocks) == 0, nil
}

// Delete removes the blob at key (and its snapshots); a missing blob is not
// an error. A bad key gives an error wrapping signer.ErrInvalidKey.
func (s *Signer) Delete(ctx context.Context, key string) error {
	if err := signer.ValidateKey(key); err != nil {
		return fmt.Errorf("azure: delete: %w", err)
	}
	include := blob.DeleteSnapshotsOptionTypeInclude
	_, err := s.client.NewBlobClient(key).Delete(ctx, &blob.DeleteOptions{DeleteSnapshots: &include})
	if err != nil && !bloberror.HasCode(err, bloberror.BlobNotFound) {
		return s.fail(ctx, "delete", key, err)
	}
	return nil
}

// StorageURI returns azure://account/container/key. It does not validate
// key.
func (s *Signer) StorageURI(key string) string {
	return "azure://" + s.account + "/" + s.container + "/" + key
}

// fail wraps err from an operation on key: signer.ErrNotFound for a
// missing blob, signer.ErrUnavailable when Azure could not be reached (a
// transport failure while ctx is live) or answered 5xx or 429.
func (s *Signer) fail(ctx context.Context, op, key string, err error) error {
	if bloberror.HasCode(err, bloberror.BlobNotFound) {
		return fmt.Errorf("azure: %s %s: %w", op, key, signer.ErrNotFound)
	}
	var re *azcore.ResponseError
	var ne net.Error
	switch {
	case ctx.Err() != nil:
	case errors.As(err, &re):
		if re.StatusCode == http.StatusNotFound && re.ErrorCode == "" {
			// A HEAD answer has no body to carry the error code.
			return fmt.Errorf("azure: %s %s: %w", op, key, signer.ErrNotFound)
		}
		if re.StatusCode >= 500 || re.StatusCode == http.StatusTooManyRequests {
			return fmt.Errorf("azure: %s %s: %w: %w", op, key, signer.ErrUnavailable, err)
		}
	case errors.As(err, &ne):
		return fmt.Errorf("azure: %s %s: %w: %w", op, key, signer.ErrUnavailable, err)
	}
	return fmt.Errorf("azure: %s %s: %w", op, key, err)
}

// checkUpload validates req at signing time t and returns the SAS expiry.
func checkUpload(req signer.UploadRequest, t time.Time) (time.Time, error) {
	if err := signer.ValidateKey(req.Key); err != nil {
		return time.Time{}, fmt.Errorf("azure: sign upload: %w", err)
	}
	if err := checkHeaderValue("ContentType", req.ContentType); err != nil {
		return time.Time{}, fmt.Errorf("azure: sign upload %s: %w", req.Key, err)
	}
	if err := checkHeaderValue("ContentDisposition", req.ContentDisposition); err != nil {
		return time.Time{}, fmt.Errorf("azure: sign upload %s: %w", req.Key, err)
	}
	if req.Size < 0 {
		return time.Time{}, fmt.Errorf("azure: sign upload %s: Size %d is negative", req.Key, req.Size)
	}
	if req.MaxSize > 0 && req.Size > req.MaxSize {
		return time.Time{}, fmt.Errorf("azure: sign upload %s: Size %d exceeds MaxSize %d", req.Key, req.Size, req.MaxSize)
	}
	if req.Size > MaxPutSize {
		return time.Time{}, fmt.Errorf("azure: sign upload %s: Size %d is more than one Put Blob stores (%d): %w", req.Key, req.Size, int64(MaxPutSize), signer.ErrUnsupported)
	}
	switch req.Checksum.Algorithm {
	case "":
	case signer.MD5:
		if b, err := base64.StdEncoding.DecodeString(req.Checksum.Value); err != nil || len(b) != 16 {
			return time.Time{}, fmt.Errorf("azure: sign upload %s: checksum MD5 value %q is not the base64 of a 16-byte digest", req.Key, req.Checksum.Value)
		}
	default:
		return time.Time{}, fmt.Errorf("azure: sign upload %s: checksum %q on an Azure upload: %w", req.Key, req.Checksum.Algorithm, signer.ErrUnsupported)
	}
	expires, err := expiry(req.Expires, t)
	if err != nil {
		return time.Time{}, fmt.Errorf("azure: sign upload %s: %w", req.Key, err)
	}
	return expires, nil
}

// expiry returns the SAS expiry for expires at signing time t: expires
// truncated to the second (the SAS carries whole seconds), so the URL
// never outlives it.
func expiry(expires, t time.Time) (time.Time, error) {
	if expires.IsZero() {
		return time.Time{}, errors.New("an Expires time is required")
	}
	se := expires.UTC().Truncate(time.Second)
	d := se.Sub(t.Truncate(time.Second))
	if d < time.Second {
		return time.Time{}, fmt.Errorf("the Expires time %s is not at least a second after the signing time %s", expires.UTC().Format(time.RFC3339), t.Format(time.RFC3339))
	}
	if d > MaxExpiry {
		return time.Time{}, fmt.Errorf("an Expires time more than %s ahead: %w", MaxExpiry, signer.ErrUnsupported)
	}
	return se, nil
}

// checkHeaderValue refuses values that cannot travel as a header or a
// SAS override: anything but printable ASCII.
func checkHeaderValue(field, v string) error {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c > 0x7e {
			return fmt.Errorf("field %s must be printable ASCII, found byte 0x%02x at %d", field, c, i)
		}
	}
	return nil
}
