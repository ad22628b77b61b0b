// Package s3 is the signer for Amazon S3 and S3-compatible stores (MinIO,
// R2, and any endpoint that speaks SigV4), built on aws-sdk-go-v2.
//
// Presigned PUT and GET URLs are produced by a SigV4 query presigner in this
// package that caches the derived signing key per day; it is proven byte for
// byte against the SDK's PresignPutObject and PresignGetObject in the tests,
// and the SDK's presigner remains the fallback for any endpoint shape the
// fast path does not recognise. POST policies, HeadObject and DeleteObject go
// through the SDK.
//
// What an S3 upload target binds:
//
//   - PUT: Content-Type and Content-Disposition (each when set), the checksum
//     (x-amz-checksum-sha256 for SHA256, Content-MD5 for MD5) and, when the
//     declared Size is positive, Content-Length, all as signed headers. The
//     client must send exactly UploadTarget.Headers; a body of any other
//     length is refused by S3 with 403 SignatureDoesNotMatch, so an oversize
//     PUT never lands. A declared Size of 0 cannot be bound (SigV4 presigning
//     signs Content-Length only when positive): such a PUT accepts any
//     length and Stat is the check.
//
//   - POST: a policy with the exact key, the exact Content-Type and
//     Content-Disposition (each when set), content-length-range [1, MaxSize]
//     ([0, MaxSize] when the declared Size is 0) and the expiry. A checksum
//     cannot be bound by a POST policy; such requests are refused.
//
//   - UploadPart (multipart): Content-Length of the part (when positive) and
//     the part's checksum (x-amz-checksum-sha256 or x-amz-checksum-crc32c,
//     the algorithm the upload was created with) as signed headers; the
//     part number and upload id are in the signed query. Part URLs come from
//     the same fast presigner, proven against the SDK's PresignUploadPart.
//
// An empty ContentType leaves the type unbound (S3 then stores its default).
// Header values must be printable ASCII (RFC 6266's filename* carries other
// file names).
package s3

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/presignd/presignd/signer"
)

// MaxExpiry is the longest a SigV4 presigned URL may live.
const MaxExpiry = 7 * 24 * time.Hour

// Config configures a Signer.
type Config struct {
	// Bucket holds every object this signer names. Required.
	Bucket string
	// Region is the signing region. When empty, the SDK's default sources
	// (AWS_REGION, shared config) are used; New fails if none names one.
	Region string
	// Endpoint is the base URL of an S3-compatible server, such as
	// "http://127.0.0.1:9000". Empty means AWS's endpoint for Region.
	Endpoint string
	// UsePathStyle puts the bucket in the path (endpoint/bucket/key) rather
	// than the host name (bucket.endpoint/key). MinIO usually needs it.
	UsePathStyle bool
	// AccessKeyID, SecretAccessKey and SessionToken are static credentials.
	// When AccessKeyID is empty the SDK's default chain is used: environment,
	// shared config and credentials files, web identity, container and EC2
	// instance metadata.
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	// Now returns the signing time; nil means time.Now. For tests.
	Now func() time.Time
	// NoPostPolicy is set for a provider that does not honour POST
	// policies (Cloudflare R2, Backblaze B2): SignPostUpload then fails
	// with signer.ErrUnsupported rather than sign a form the provider
	// refuses.
	NoPostPolicy bool
	// Checksums, when not nil, are the only algorithms SignUpload binds
	// (a provider without flexible checksums takes MD5 only); others fail
	// with signer.ErrUnsupported. Nil means SHA256 and MD5.
	Checksums []string
}

// Signer signs S3 targets and looks at S3 objects. It implements
// signer.Signer, signer.PostPolicySigner, signer.MultipartUploader and
// signer.MultipartLister and is safe for concurrent use.
type Signer struct {
	bucket  string
	now     func() time.Time
	client  *s3.Client
	presign *s3.PresignClient
	// fast is the hand-written query presigner; nil when the endpoint the SDK
	// resolved has a shape it does not handle, in which case the SDK signs.
	fast      *presigner
	noPost    bool
	checksums []string
	// pageSize, when positive, is the page size of ListParts and
	// ListMultipartUploads requests (S3's default, 1000, otherwise). For
	// tests of pagination.
	pageSize int32
}

var (
	_ signer.Signer           = (*Signer)(nil)
	_ signer.PostPolicySigner = (*Signer)(nil)
)

// New returns a Signer for cfg. It fails, naming the field, when Bucket is
// empty, when the static credentials are incomplete, when Endpoint is not an
// http(s) URL, or when no region can be found. It does not contact the server
// and does not fetch credentials from the default chain until first use.
func New(ctx context.Context, cfg Config) (*Signer, error) {
	switch {
	case cfg.Bucket == "":
		return nil, errors.New("s3: Config.Bucket is required")
	case strings.ContainsAny(cfg.Bucket, "/ "):
		return nil, fmt.Errorf("s3: Config.Bucket %q is not a bucket name", cfg.Bucket)
	case (cfg.AccessKeyID == "") != (cfg.SecretAccessKey == ""):
		return nil, errors.New("s3: Config.AccessKeyID and Config.SecretAccessKey must be set together")
	case cfg.SessionToken != "" && cfg.AccessKeyID == "":
		return nil, errors.New("s3: Config.SessionToken needs Config.AccessKeyID and Config.SecretAccessKey")
	}
	if cfg.Endpoint != "" {
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("s3: Config.Endpoint %q is not an http or https URL", cfg.Endpoint)
		}
	}

	opts := []func(*config.LoadOptions) error{
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	}
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.AccessKeyID != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, cfg.SessionToken)))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3: load AWS config: %w", err)
	}
	if awsCfg.Region == "" {
		return nil, errors.New("s3: Config.Region is required (or set AWS_REGION)")
	}

	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		o.UsePathStyle = cfg.UsePathStyle
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	})
	s := &Signer{
		bucket:  cfg.Bucket,
		now:     cfg.Now,
		client:  client,
		presign: s3.NewPresignClient(client),
		noPost:  cfg.NoPostPolicy,
	}
	if cfg.Checksums != nil {
		s.checksums = slices.Clone(cfg.Checksums)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.fast, err = newPresigner(ctx, s.presign, cfg.Bucket, awsCfg.Credentials)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// SignUpload returns a presigned PUT target for req (see the package comment
// for what it binds). It fails with an error wrapping signer.ErrInvalidKey
// for a bad key, signer.ErrUnsupported for a CRC32C checksum or an expiry
// beyond MaxExpiry, and a plain error for an expiry not in the future, a
// malformed checksum, a header value that is not printable ASCII, or a Size
// above MaxSize.
func (s *Signer) SignUpload(ctx context.Context, req signer.UploadRequest) (signer.UploadTarget, error) {
	if a := req.Checksum.Algorithm; a != "" && s.checksums != nil && !slices.Contains(s.checksums, a) {
		return signer.UploadTarget{}, fmt.Errorf("s3: sign upload %s: checksum %s on this provider: %w", req.Key, a, signer.ErrUnsupported)
	}
	t := s.now().UTC()
	secs, err := checkUpload(req, t)
	if err != nil {
		return signer.UploadTarget{}, err
	}
	if s.fast == nil {
		return s.sdkSignUpload(ctx, req, t, secs)
	}
	return s.fast.signUpload(ctx, req, t, secs)
}

// SignDownload returns a presigned GET URL for req. Response overrides are
// carried as response-content-disposition and response-content-type. It
// fails like SignUpload for a bad key, expiry or header value.
func (s *Signer) SignDownload(ctx context.Context, req signer.DownloadRequest) (string, error) {
	t := s.now().UTC()
	secs, err := checkDownload(req, t)
	if err != nil {
		return "", err
	}
	if s.fast == nil {
		return s.sdkSignDownload(ctx, req, t, secs)
	}
	return s.fast.signDownload(ctx, req, t, secs)
}

// SignPostUpload fails with signer.ErrUnsupported when Config.NoPostPolicy
// is set. Otherwise it returns an HTML-form POST target for req: URL is the bucket
// URL and FormFields carry the key, Content-Type, Content-Disposition (when
// set), the policy and its signature. The policy binds the exact key, the
// exact Content-Type (when set), content-length-range [1, MaxSize] ([0, MaxSize] when Size is
// 0) and the expiry. A checksum cannot be bound by a POST policy here: a
// request with one fails with an error wrapping signer.ErrUnsupported. Other
// failures are as for SignUpload; MaxSize must be positive.
func (s *Signer) SignPostUpload(ctx context.Context, req signer.UploadRequest) (signer.UploadTarget, error) {
	if s.noPost {
		return signer.UploadTarget{}, fmt.Errorf("s3: sign POST %s: this provider does not honour POST policies: %w", req.Key, signer.ErrUnsupported)
	}
	t := s.now().UTC()
	secs, err := checkUpload(req, t)
	if err != nil {
		return signer.UploadTarget{}, err
	}
	if !req.Checksum.IsZero() {
		return signer.UploadTarget{}, fmt.Errorf("s3: sign POST %s: checksum %s in a POST policy: %w", req.Key, req.Checksum.Algorithm, signer.ErrUnsupported)
	}
	if req.MaxSize <= 0 {
		return signer.UploadTarget{}, fmt.Errorf("s3: sign POST %s: MaxSize must be positive, got %d", req.Key, req.MaxSize)
	}
	var minSize int64 = 1
	if req.Size == 0 {
		minSize = 0
	}
	fields := map[string]string{}
	conditions := []any{
		map[string]string{"key": req.Key},
		[]any{"content-length-range", minSize, req.MaxSize},
	}
	if req.ContentType != "" {
		conditions = append(conditions, map[string]string{"Content-Type": req.ContentType})
		fields["Content-Type"] = req.ContentType
	}
	if req.ContentDisposition != "" {
		conditions = append(conditions, map[string]string{"Content-Disposition": req.ContentDisposition})
		fields["Content-Disposition"] = req.ContentDisposition
	}
	expires := t.Truncate(time.Second).Add(time.Duration(secs) * time.Second)
	out, err := s.presign.PresignPostObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(req.Key),
	}, func(o *s3.PresignPostOptions) {
		o.Expires = time.Duration(secs) * time.Second
		o.Conditions = conditions
		o.PostPresigner = fixedTimePostPresigner{next: o.PostPresigner, t: t, expires: expires}
	})
	if err != nil {
		return signer.UploadTarget{}, fmt.Errorf("s3: sign POST %s: %w", req.Key, err)
	}
	for k, v := range out.Values {
		fields[k] = v
	}
	return signer.UploadTarget{
		Method:     http.MethodPost,
		URL:        out.URL,
		FormFields: fields,
		Expires:    expires,
	}, nil
}

// Stat describes the object at key with HeadObject (checksum mode enabled).
// ETag is returned without its surrounding quotes. Checksums holds SHA256
// when the store kept an x-amz-checksum-sha256 for the whole object (never
// the composite checksum of a multipart upload's parts, "...-N"), and MD5
// (base64 of the digest) when the ETag is a plain 32-hex-digit MD5, that is,
// a single-part upload not encrypted with SSE-KMS or SSE-C. A missing object
// gives an error wrapping signer.ErrNotFound; an S3 that cannot be reached
// or fails (5xx, 429), one wrapping signer.ErrUnavailable.
func (s *Signer) Stat(ctx context.Context, key string) (signer.ObjectInfo, error) {
	if err := signer.ValidateKey(key); err != nil {
		return signer.ObjectInfo{}, fmt.Errorf("s3: stat: %w", err)
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket:       aws.String(s.bucket),
		Key:          aws.String(key),
		ChecksumMode: types.ChecksumModeEnabled,
	})
	if err != nil {
		if isNotFound(err) {
			return signer.ObjectInfo{}, fmt.Errorf("s3: stat %s: %w", key, signer.ErrNotFound)
		}
		return signer.ObjectInfo{}, fmt.Errorf("s3: stat %s: %w", key, classify(ctx, err))
	}
	info := signer.ObjectInfo{
		Size:        aws.ToInt64(out.ContentLength),
		ContentType: aws.ToString(out.ContentType),
		ETag:        strings.Trim(aws.ToString(out.ETag), `"`),
		Checksums:   map[string]string{},
		Modified:    aws.ToTime(out.LastModified),
	}
	if v := aws.ToString(out.ChecksumSHA256); v != "" && out.ChecksumType != types.ChecksumTypeComposite && !strings.Contains(v, "-") {
		info.Checksums[signer.SHA256] = v
	}
	if md5 := etagMD5(info.ETag); md5 != "" &&
		out.ServerSideEncryption != types.ServerSideEncryptionAwsKms &&
		out.ServerSideEncryption != types.ServerSideEncryptionAwsKmsDsse &&
		aws.ToString(out.SSECustomerAlgorithm) == "" {
		info.Checksums[signer.MD5] = md5
	}
	return info, nil
}

// Delete removes the object at key with DeleteObject; a missing object is
// not an error. A bad key gives an error wrapping signer.ErrInvalidKey.
func (s *Signer) Delete(ctx context.Context, key string) error {
	if err := signer.ValidateKey(key); err != nil {
		return fmt.Errorf("s3: delete: %w", err)
	}
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(key),
	})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("s3: delete %s: %w", key, classify(ctx, err))
	}
	return nil
}

// classify wraps err with signer.ErrUnavailable when S3 could not be
// reached (a transport failure while ctx is live) or answered 5xx or 429.
func classify(ctx context.Context, err error) error {
	var re *awshttp.ResponseError
	var ne net.Error
	switch {
	case ctx.Err() != nil:
		return err
	case errors.As(err, &re) && (re.HTTPStatusCode() >= 500 || re.HTTPStatusCode() == http.StatusTooManyRequests):
	case errors.As(err, &ne):
	default:
		return err
	}
	return fmt.Errorf("%w: %w", signer.ErrUnavailable, err)
}

// StorageURI returns s3://bucket/key. It does not validate key.
func (s *Signer) StorageURI(key string) string {
	return "s3://" + s.bucket + "/" + key
}

// etagMD5 returns base64 of the digest when etag is 32 hex digits, else "".
func etagMD5(etag string) string {
	if len(etag) != 32 {
		return ""
	}
	b, err := hex.DecodeString(etag)
	if err != nil {
		return ""
	}
	return base64.StdEncoding.EncodeToString(b)
}

// isNotFound reports whether err is S3's answer for a missing object.
func isNotFound(err error) bool {
	var nf *types.NotFound
	var nsk *types.NoSuchKey
	if errors.As(err, &nf) || errors.As(err, &nsk) {
		return true
	}
	var api smithy.APIError
	if errors.As(err, &api) && (api.ErrorCode() == "NotFound" || api.ErrorCode() == "NoSuchKey") {
		return true
	}
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound
}

// checkUpload validates req at signing time t and returns X-Amz-Expires.
func checkUpload(req signer.UploadRequest, t time.Time) (int64, error) {
	if err := signer.ValidateKey(req.Key); err != nil {
		return 0, fmt.Errorf("s3: sign upload: %w", err)
	}
	if err := checkHeaderValue("ContentType", req.ContentType); err != nil {
		return 0, fmt.Errorf("s3: sign upload %s: %w", req.Key, err)
	}
	if err := checkHeaderValue("ContentDisposition", req.ContentDisposition); err != nil {
		return 0, fmt.Errorf("s3: sign upload %s: %w", req.Key, err)
	}
	if req.Size < 0 {
		return 0, fmt.Errorf("s3: sign upload %s: Size %d is negative", req.Key, req.Size)
	}
	if req.MaxSize > 0 && req.Size > req.MaxSize {
		return 0, fmt.Errorf("s3: sign upload %s: Size %d exceeds MaxSize %d", req.Key, req.Size, req.MaxSize)
	}
	if err := checkChecksum(req.Checksum); err != nil {
		return 0, fmt.Errorf("s3: sign upload %s: %w", req.Key, err)
	}
	secs, err := expirySeconds(req.Expires, t)
	if err != nil {
		return 0, fmt.Errorf("s3: sign upload %s: %w", req.Key, err)
	}
	return secs, nil
}

// checkDownload validates req at signing time t and returns X-Amz-Expires.
func checkDownload(req signer.DownloadRequest, t time.Time) (int64, error) {
	if err := signer.ValidateKey(req.Key); err != nil {
		return 0, fmt.Errorf("s3: sign download: %w", err)
	}
	if err := checkHeaderValue("ResponseContentType", req.ResponseContentType); err != nil {
		return 0, fmt.Errorf("s3: sign download %s: %w", req.Key, err)
	}
	if err := checkHeaderValue("ResponseContentDisposition", req.ResponseContentDisposition); err != nil {
		return 0, fmt.Errorf("s3: sign download %s: %w", req.Key, err)
	}
	secs, err := expirySeconds(req.Expires, t)
	if err != nil {
		return 0, fmt.Errorf("s3: sign download %s: %w", req.Key, err)
	}
	return secs, nil
}

// expirySeconds returns the whole seconds from t (truncated to the second,
// as X-Amz-Date is) to expires, so that the URL never outlives expires.
func expirySeconds(expires, t time.Time) (int64, error) {
	if expires.IsZero() {
		return 0, errors.New("an Expires time is required")
	}
	d := expires.Sub(t.Truncate(time.Second))
	if d < time.Second {
		return 0, fmt.Errorf("the Expires time %s is not at least a second after the signing time %s", expires.UTC().Format(time.RFC3339), t.Format(time.RFC3339))
	}
	if d > MaxExpiry {
		return 0, fmt.Errorf("an Expires time more than %s ahead: %w", MaxExpiry, signer.ErrUnsupported)
	}
	return int64(d / time.Second), nil
}

// checkHeaderValue refuses values that cannot travel as a signed header:
// anything but printable ASCII.
func checkHeaderValue(field, v string) error {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c > 0x7e {
			return fmt.Errorf("field %s must be printable ASCII, found byte 0x%02x at %d", field, c, i)
		}
	}
	return nil
}

// checkChecksum accepts no checksum, or a SHA256 or MD5 whose value is the
// standard base64 of a digest of the right length.
func checkChecksum(c signer.Checksum) error {
	var n int
	switch c.Algorithm {
	case "":
		return nil
	case signer.SHA256:
		n = 32
	case signer.MD5:
		n = 16
	case signer.CRC32C:
		return fmt.Errorf("checksum %s on a presigned S3 upload: %w", c.Algorithm, signer.ErrUnsupported)
	default:
		return fmt.Errorf("checksum algorithm %q: %w", c.Algorithm, signer.ErrUnsupported)
	}
	b, err := base64.StdEncoding.DecodeString(c.Value)
	if err != nil || len(b) != n {
		return fmt.Errorf("checksum %s value %q is not the base64 of a %d-byte digest", c.Algorithm, c.Value, n)
	}
	return nil
}

// uploadHeaders returns the headers a PUT client must send for req.
func uploadHeaders(req signer.UploadRequest) map[string]string {
	h := make(map[string]string, 4)
	if req.ContentType != "" {
		h["Content-Type"] = req.ContentType
	}
	if req.ContentDisposition != "" {
		h["Content-Disposition"] = req.ContentDisposition
	}
	if req.Size > 0 {
		h["Content-Length"] = strconv.FormatInt(req.Size, 10)
	}
	switch req.Checksum.Algorithm {
	case signer.SHA256:
		h["x-amz-checksum-sha256"] = req.Checksum.Value
	case signer.MD5:
		h["Content-MD5"] = req.Checksum.Value
	}
	return h
}
