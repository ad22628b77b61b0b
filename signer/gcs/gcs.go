// Package gcs is the signer for Google Cloud Storage, built on
// cloud.google.com/go/storage: V4 (GOOG4-RSA-SHA256) signed PUT and GET
// URLs, V4 POST policies, and object attributes and deletion through the
// JSON API.
//
// Signing. With a service-account key (CredentialsFile or CredentialsJSON of
// type "service_account"), the key is parsed once by New and every signature
// is made in-process through SignedURLOptions.SignBytes /
// PostPolicyV4Options.SignRawBytes. Without a key, the library signs through
// the IAM Credentials signBlob API as GoogleAccessID, authenticated by the
// client's credentials (CredentialsJSON of another type, or the application
// default credentials); that call cannot be cancelled by the request's
// context, because the library makes it with context.Background.
//
// Clock. The library stamps X-Goog-Date (and a POST policy's x-goog-date)
// from time.Now itself; SignedURLOptions and PostPolicyV4Options have no
// field for the signing time, so Config.Now cannot move it. Config.Now is the
// clock this package checks expiries against. UploadTarget.Expires is read
// back from the signed URL (X-Goog-Date + X-Goog-Expires), so it is exactly
// what the server will enforce.
//
// URLs. A signed URL comes in the form GCS documents: query spaces as %20
// and X-Goog-Signature last. Its lifetime, X-Goog-Expires, is the time left
// until the requested expiry rounded up to a whole second and counted from
// X-Goog-Date (itself whole seconds), so the URL stops working within a
// second of the requested instant; UploadTarget.Expires is the exact result.
//
// What an upload target binds:
//
//   - PUT: Content-Type (when set), Content-Disposition (when set) and the
//     checksum as signed headers: Content-MD5 for MD5, "x-goog-hash:
//     crc32c=<base64>" for CRC32C; GCS refuses a body that does not match.
//     The client must send exactly UploadTarget.Headers. SHA256 fails with
//     signer.ErrUnsupported: GCS keeps no SHA-256 of an object, so Stat could
//     never confirm it (x-goog-content-sha256 only feeds the signature).
//     Size cannot be bound on a signed PUT; Stat is the check.
//   - POST: a V4 policy with the exact key, the exact Content-Type and
//     Content-Disposition (when set), content-length-range [1, MaxSize]
//     ([0, MaxSize] when the declared Size is 0; no range when MaxSize is
//     not positive) and the expiry. A checksum cannot be bound in a POST
//     policy: such a request fails with signer.ErrUnsupported.
package gcs

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/option"

	"github.com/presignd/presignd/signer"
)

// MaxExpiry is the longest a V4 signed URL may live.
const MaxExpiry = 7 * 24 * time.Hour

// Config configures a Signer.
type Config struct {
	// Bucket holds every object this signer names. Required.
	Bucket string
	// CredentialsFile is the path of a credentials JSON file; at most one of
	// CredentialsFile and CredentialsJSON may be set. A "service_account"
	// file with a private_key signs in-process; any other type
	// ("authorized_user", "impersonated_service_account",
	// "external_account") only authenticates the client, and signing goes
	// through IAM signBlob. When both are empty the application default
	// credentials are used.
	CredentialsFile string
	// CredentialsJSON is the content of such a file.
	CredentialsJSON []byte
	// GoogleAccessID is the service account that signs. With a
	// service-account key it defaults to the key's client_email and, when
	// set, must equal it. Without a key, signing goes through IAM signBlob
	// as this account; when empty, the library detects it on every signing
	// (from the credentials JSON, or the GCE metadata server).
	GoogleAccessID string
	// Endpoint is the base URL of a GCS-compatible server, such as
	// "http://127.0.0.1:4443" (scheme and host required). It serves the
	// JSON API under /storage/v1/ (appended when Endpoint has no path) and
	// is the host of signed URLs; an "http" endpoint yields http URLs.
	// Empty means storage.googleapis.com over https, unless the library's
	// STORAGE_EMULATOR_HOST environment variable names another host.
	Endpoint string
	// VirtualHostStyle puts the bucket in the host name
	// (bucket.host/key) rather than the path (host/bucket/key).
	VirtualHostStyle bool
	// Now is the clock expiries are checked against; nil means time.Now.
	// It does not set the signing time (see the package comment).
	Now func() time.Time
	// HTTPClient, when set, carries every call the library makes (JSON API,
	// IAM signBlob) as it is: the library adds no authentication to it, so
	// it must authenticate itself where the server needs it. Credentials
	// still provide the signing key. For tests and emulators.
	HTTPClient *http.Client
}

// Signer signs GCS targets and looks at GCS objects. It implements
// signer.Signer and signer.PostPolicySigner and is safe for concurrent use.
type Signer struct {
	bucket   string
	client   *storage.Client
	handle   *storage.BucketHandle
	accessID string
	// key is the parsed service-account key; nil means IAM signBlob.
	key      *rsa.PrivateKey
	style    storage.URLStyle
	insecure bool
	now      func() time.Time
}

var (
	_ signer.Signer           = (*Signer)(nil)
	_ signer.PostPolicySigner = (*Signer)(nil)
)

// New builds a Signer from cfg. It fails when Bucket is empty, when both
// credential sources are set, when the credentials cannot be read or parsed
// (including an unparsable service-account private key), when GoogleAccessID
// contradicts the key's client_email, or when Endpoint is not an http(s) URL
// with a host. With credentials or an HTTPClient it makes no network call;
// with neither, the search for application default credentials may probe
// the GCE metadata server.
func New(ctx context.Context, cfg Config) (*Signer, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("gcs: Bucket is required")
	}
	if cfg.CredentialsFile != "" && len(cfg.CredentialsJSON) > 0 {
		return nil, errors.New("gcs: set at most one of CredentialsFile and CredentialsJSON")
	}
	credJSON := cfg.CredentialsJSON
	if cfg.CredentialsFile != "" {
		b, err := os.ReadFile(cfg.CredentialsFile)
		if err != nil {
			return nil, fmt.Errorf("gcs: read credentials: %w", err)
		}
		credJSON = b
	}

	s := &Signer{bucket: cfg.Bucket, accessID: cfg.GoogleAccessID, now: cfg.Now, style: storage.PathStyle()}
	if s.now == nil {
		s.now = time.Now
	}
	if cfg.VirtualHostStyle {
		s.style = storage.VirtualHostedStyle()
	}

	var opts []option.ClientOption
	if len(credJSON) > 0 {
		var creds struct {
			Type        string `json:"type"`
			PrivateKey  string `json:"private_key"`
			ClientEmail string `json:"client_email"`
		}
		if err := json.Unmarshal(credJSON, &creds); err != nil {
			return nil, fmt.Errorf("gcs: parse credentials: %w", err)
		}
		var credType option.CredentialsType
		switch creds.Type {
		case "service_account":
			credType = option.ServiceAccount
		case "authorized_user":
			credType = option.AuthorizedUser
		case "impersonated_service_account":
			credType = option.ImpersonatedServiceAccount
		case "external_account":
			credType = option.ExternalAccount
		default:
			return nil, fmt.Errorf("gcs: unsupported credentials type %q", creds.Type)
		}
		if creds.Type == "service_account" && creds.PrivateKey != "" {
			key, err := parseKey([]byte(creds.PrivateKey))
			if err != nil {
				return nil, fmt.Errorf("gcs: service-account private key: %w", err)
			}
			if creds.ClientEmail == "" {
				return nil, errors.New("gcs: service-account credentials have no client_email")
			}
			if s.accessID != "" && s.accessID != creds.ClientEmail {
				return nil, fmt.Errorf("gcs: GoogleAccessID %q is not the key's client_email %q", s.accessID, creds.ClientEmail)
			}
			s.key = key
			s.accessID = creds.ClientEmail
		}
		opts = append(opts, option.WithAuthCredentialsJSON(credType, credJSON))
	} else if cfg.HTTPClient != nil {
		// The client authenticates itself; skip the search for default
		// credentials (which may probe the GCE metadata server).
		opts = append(opts, option.WithoutAuthentication())
	}
	if cfg.HTTPClient != nil {
		opts = append(opts, option.WithHTTPClient(cfg.HTTPClient))
	}

	if cfg.Endpoint != "" {
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("gcs: Endpoint %q: want http(s)://host[:port]", cfg.Endpoint)
		}
		ep := cfg.Endpoint
		if u.Path == "" || u.Path == "/" {
			ep = strings.TrimSuffix(ep, "/") + "/storage/v1/"
		}
		opts = append(opts, option.WithEndpoint(ep))
		s.insecure = u.Scheme == "http"
	} else if host := os.Getenv("STORAGE_EMULATOR_HOST"); host != "" {
		// The library sends JSON calls and signs URLs for this host; a
		// host without a scheme is plain http there.
		s.insecure = !strings.Contains(host, "://") || strings.HasPrefix(host, "http://")
	}

	client, err := storage.NewClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("gcs: new client: %w", err)
	}
	s.client = client
	s.handle = client.Bucket(cfg.Bucket)
	return s, nil
}

// Close releases the client's resources. The Signer must not be used after.
func (s *Signer) Close() error { return s.client.Close() }

// GoogleAccessID is the account URLs are signed as; empty when it is left to
// the library to detect.
func (s *Signer) GoogleAccessID() string { return s.accessID }

// SignUpload returns a V4 signed PUT target binding what req asks (see the
// package comment). It fails with an error wrapping signer.ErrInvalidKey for
// a bad key and signer.ErrUnsupported for a checksum algorithm GCS cannot
// bind (SHA256, or one it does not know), and
// with a plain error for a malformed checksum value, a header value with
// control characters, or an expiry that is not in the future or is more
// than MaxExpiry ahead.
func (s *Signer) SignUpload(ctx context.Context, req signer.UploadRequest) (signer.UploadTarget, error) {
	if err := s.check(ctx, req.Key, req.Expires); err != nil {
		return signer.UploadTarget{}, err
	}
	headers := make(map[string]string, 4)
	opts := s.urlOptions(http.MethodPut, req.Expires)
	if req.ContentType != "" {
		if !validHeaderValue(req.ContentType) {
			return signer.UploadTarget{}, fmt.Errorf("gcs: sign upload %s: content type has control characters", req.Key)
		}
		opts.ContentType = req.ContentType
		headers["Content-Type"] = req.ContentType
	}
	if req.ContentDisposition != "" {
		if !validHeaderValue(req.ContentDisposition) {
			return signer.UploadTarget{}, fmt.Errorf("gcs: sign upload %s: content disposition has control characters", req.Key)
		}
		opts.Headers = append(opts.Headers, "content-disposition:"+req.ContentDisposition)
		headers["Content-Disposition"] = req.ContentDisposition
	}
	if !req.Checksum.IsZero() {
		name, value, err := checksumHeader(req.Checksum)
		if err != nil {
			return signer.UploadTarget{}, fmt.Errorf("gcs: sign upload %s: %w", req.Key, err)
		}
		if name == "Content-MD5" {
			opts.MD5 = value
		} else {
			opts.Headers = append(opts.Headers, name+":"+value)
		}
		headers[name] = value
	}
	u, err := s.handle.SignedURL(req.Key, opts)
	if err != nil {
		return signer.UploadTarget{}, fmt.Errorf("gcs: sign upload %s: %w", req.Key, err)
	}
	u, exp, err := tidyURL(u)
	if err != nil {
		return signer.UploadTarget{}, fmt.Errorf("gcs: sign upload %s: %w", req.Key, err)
	}
	return signer.UploadTarget{Method: http.MethodPut, URL: u, Headers: headers, Expires: exp}, nil
}

// SignDownload returns a V4 signed GET URL for req.Key. A set
// ResponseContentDisposition or ResponseContentType is signed into the URL
// as response-content-disposition / response-content-type, which GCS
// returns instead of the stored values. Errors are as for SignUpload.
func (s *Signer) SignDownload(ctx context.Context, req signer.DownloadRequest) (string, error) {
	if err := s.check(ctx, req.Key, req.Expires); err != nil {
		return "", err
	}
	opts := s.urlOptions(http.MethodGet, req.Expires)
	if req.ResponseContentDisposition != "" || req.ResponseContentType != "" {
		q := make(url.Values, 2)
		if req.ResponseContentDisposition != "" {
			q.Set("response-content-disposition", req.ResponseContentDisposition)
		}
		if req.ResponseContentType != "" {
			q.Set("response-content-type", req.ResponseContentType)
		}
		opts.QueryParameters = q
	}
	u, err := s.handle.SignedURL(req.Key, opts)
	if err != nil {
		return "", fmt.Errorf("gcs: sign download %s: %w", req.Key, err)
	}
	u, _, err = tidyURL(u)
	if err != nil {
		return "", fmt.Errorf("gcs: sign download %s: %w", req.Key, err)
	}
	return u, nil
}

// SignPostUpload returns a V4 POST policy target for req: URL, the form
// fields to send before the file, and the policy's expiry (req.Expires
// truncated to the second, as the policy states it). A set checksum fails
// with an error wrapping signer.ErrUnsupported; other errors are as for
// SignUpload, except that the expiry may be any time in the future.
func (s *Signer) SignPostUpload(ctx context.Context, req signer.UploadRequest) (signer.UploadTarget, error) {
	if err := ctx.Err(); err != nil {
		return signer.UploadTarget{}, err
	}
	if err := signer.ValidateKey(req.Key); err != nil {
		return signer.UploadTarget{}, fmt.Errorf("gcs: %w", err)
	}
	if !req.Checksum.IsZero() {
		return signer.UploadTarget{}, fmt.Errorf("gcs: sign post %s: checksum %s in a POST policy: %w", req.Key, req.Checksum.Algorithm, signer.ErrUnsupported)
	}
	exp := req.Expires.UTC().Truncate(time.Second)
	if !exp.After(s.now()) {
		return signer.UploadTarget{}, fmt.Errorf("gcs: sign post %s: expiry %s is not in the future", req.Key, req.Expires.Format(time.RFC3339))
	}
	if !validHeaderValue(req.ContentType) || !validHeaderValue(req.ContentDisposition) {
		return signer.UploadTarget{}, fmt.Errorf("gcs: sign post %s: content type or disposition has control characters", req.Key)
	}
	opts := &storage.PostPolicyV4Options{
		GoogleAccessID: s.accessID,
		Expires:        exp,
		Style:          s.style,
		Insecure:       s.insecure,
		Fields: &storage.PolicyV4Fields{
			ContentType:        req.ContentType,
			ContentDisposition: req.ContentDisposition,
		},
	}
	if s.key != nil {
		opts.SignRawBytes = s.signBytes
	}
	if req.MaxSize > 0 {
		var lo uint64
		if req.Size > 0 {
			lo = 1
		}
		opts.Conditions = []storage.PostPolicyV4Condition{storage.ConditionContentLengthRange(lo, uint64(req.MaxSize))}
	}
	p, err := s.handle.GenerateSignedPostPolicyV4(req.Key, opts)
	if err != nil {
		return signer.UploadTarget{}, fmt.Errorf("gcs: sign post %s: %w", req.Key, err)
	}
	return signer.UploadTarget{Method: http.MethodPost, URL: p.URL, FormFields: p.Fields, Expires: exp}, nil
}

// Stat describes the object at key. Checksums holds MD5 (absent for
// composite objects) and CRC32C (big-endian, base64; omitted when zero for a
// non-empty object, the library's "unknown"). A missing object yields an
// error wrapping signer.ErrNotFound.
func (s *Signer) Stat(ctx context.Context, key string) (signer.ObjectInfo, error) {
	if err := signer.ValidateKey(key); err != nil {
		return signer.ObjectInfo{}, fmt.Errorf("gcs: %w", err)
	}
	a, err := s.handle.Object(key).Attrs(ctx)
	if errors.Is(err, storage.ErrObjectNotExist) {
		return signer.ObjectInfo{}, fmt.Errorf("gcs: stat %s: %w", key, signer.ErrNotFound)
	}
	if err != nil {
		return signer.ObjectInfo{}, fmt.Errorf("gcs: stat %s: %w", key, err)
	}
	info := signer.ObjectInfo{
		Size:        a.Size,
		ContentType: a.ContentType,
		ETag:        a.Etag,
		Checksums:   make(map[string]string, 2),
		Modified:    a.Updated,
	}
	if len(a.MD5) > 0 {
		info.Checksums[signer.MD5] = base64.StdEncoding.EncodeToString(a.MD5)
	}
	if a.CRC32C != 0 || a.Size == 0 {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], a.CRC32C)
		info.Checksums[signer.CRC32C] = base64.StdEncoding.EncodeToString(b[:])
	}
	return info, nil
}

// Delete removes the object at key; a missing object is not an error.
func (s *Signer) Delete(ctx context.Context, key string) error {
	if err := signer.ValidateKey(key); err != nil {
		return fmt.Errorf("gcs: %w", err)
	}
	err := s.handle.Object(key).Delete(ctx)
	if err != nil && !errors.Is(err, storage.ErrObjectNotExist) {
		return fmt.Errorf("gcs: delete %s: %w", key, err)
	}
	return nil
}

// StorageURI returns gs://bucket/key.
func (s *Signer) StorageURI(key string) string { return "gs://" + s.bucket + "/" + key }

// check validates what every signed URL needs: a live context, a valid key
// and an expiry the V4 scheme can state.
func (s *Signer) check(ctx context.Context, key string, expires time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := signer.ValidateKey(key); err != nil {
		return fmt.Errorf("gcs: %w", err)
	}
	d := expires.Sub(s.now())
	if d <= 0 || d > MaxExpiry {
		return fmt.Errorf("gcs: %s: expiry %s is not in the future and within %s", key, expires.Format(time.RFC3339), MaxExpiry)
	}
	return nil
}

// urlOptions is the base of every signed URL this Signer makes. The library
// states X-Goog-Expires as the whole seconds left, truncated; adding just
// under a second rounds it up instead, so a near expiry is never 0 and a
// whole-second lifetime (as in the conformance vectors) is kept exactly.
func (s *Signer) urlOptions(method string, expires time.Time) *storage.SignedURLOptions {
	opts := &storage.SignedURLOptions{
		GoogleAccessID: s.accessID,
		Method:         method,
		Expires:        expires.Add(time.Second - time.Nanosecond),
		Scheme:         storage.SigningSchemeV4,
		Style:          s.style,
		Insecure:       s.insecure,
	}
	if s.key != nil {
		opts.SignBytes = s.signBytes
	}
	return opts
}

// signBytes signs b with the service-account key: RSASSA-PKCS1-v1_5 over
// SHA-256, as GOOG4-RSA-SHA256 requires.
func (s *Signer) signBytes(b []byte) ([]byte, error) {
	sum := sha256.Sum256(b)
	return rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, sum[:])
}

// checksumHeader maps a checksum to the signed header GCS verifies it with.
func checksumHeader(c signer.Checksum) (name, value string, err error) {
	var want int
	switch c.Algorithm {
	case signer.MD5:
		want = 16
	case signer.CRC32C:
		want = 4
	default:
		return "", "", fmt.Errorf("checksum algorithm %q: %w", c.Algorithm, signer.ErrUnsupported)
	}
	raw, err := base64.StdEncoding.DecodeString(c.Value)
	if err != nil || len(raw) != want {
		return "", "", fmt.Errorf("checksum %s: want %d bytes in standard base64, got %q", c.Algorithm, want, c.Value)
	}
	canonical := base64.StdEncoding.EncodeToString(raw)
	if c.Algorithm == signer.MD5 {
		return "Content-MD5", canonical, nil
	}
	return "x-goog-hash", "crc32c=" + canonical, nil
}

// tidyURL puts a signed URL from the library into the form GCS documents
// and the conformance vectors use: spaces in the query as %20 (the library
// signs %20 but emits "+"; a literal "+" is already %2B, so the rewrite is
// lossless) and X-Goog-Signature last rather than in sorted place. It also
// returns when the URL stops working: X-Goog-Date plus X-Goog-Expires.
func tidyURL(signed string) (string, time.Time, error) {
	base, query, ok := strings.Cut(signed, "?")
	if !ok {
		return "", time.Time{}, errors.New("signed URL has no query")
	}
	var b strings.Builder
	b.Grow(len(signed) + 16)
	b.WriteString(base)
	b.WriteByte('?')
	var sig, date, expires string
	first := true
	for query != "" {
		var p string
		p, query, _ = strings.Cut(query, "&")
		switch {
		case strings.HasPrefix(p, "X-Goog-Signature="):
			sig = p
			continue
		case strings.HasPrefix(p, "X-Goog-Date="):
			date = p[len("X-Goog-Date="):]
		case strings.HasPrefix(p, "X-Goog-Expires="):
			expires = p[len("X-Goog-Expires="):]
		}
		if !first {
			b.WriteByte('&')
		}
		first = false
		writeSpacesAsPercent20(&b, p)
	}
	if sig == "" {
		return "", time.Time{}, errors.New("signed URL has no X-Goog-Signature")
	}
	b.WriteByte('&')
	b.WriteString(sig)
	t, err := time.Parse("20060102T150405Z", date)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("signed URL has no valid X-Goog-Date: %w", err)
	}
	secs, err := strconv.Atoi(expires)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("signed URL has no valid X-Goog-Expires: %w", err)
	}
	return b.String(), t.Add(time.Duration(secs) * time.Second), nil
}

func writeSpacesAsPercent20(b *strings.Builder, s string) {
	for {
		i := strings.IndexByte(s, '+')
		if i < 0 {
			b.WriteString(s)
			return
		}
		b.WriteString(s[:i])
		b.WriteString("%20")
		s = s[i+1:]
	}
}

// validHeaderValue reports whether v can be sent as an HTTP header value:
// no control characters other than horizontal tab.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// parseKey parses a PEM RSA private key in PKCS#8 or PKCS#1 form.
func parseKey(pemBytes []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("key is %T, not RSA", k)
		}
		return rk, nil
	}
	k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("neither PKCS#8 nor PKCS#1: %w", err)
	}
	return k, nil
}
