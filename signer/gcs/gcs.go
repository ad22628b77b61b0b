// Package gcs is the signer for Google Cloud Storage: V4 (GOOG4-RSA-SHA256)
// signed PUT and GET URLs, V4 POST policies, XML API multipart uploads
// (multipart.go says how), and object attributes and deletion through the
// JSON API. It speaks to Google over net/http itself;
// cloud.google.com/go/auth/credentials loads credentials and mints OAuth
// tokens, and cloud.google.com/go/compute/metadata finds the GCE service
// account.
//
// Signing. With an HMAC key (Config.HMACAccessID and HMACSecret), every
// URL and POST policy is signed GOOG4-HMAC-SHA256: HMAC-SHA256 of the
// string-to-sign under the key derived from "GOOG4"+secret, the day, the
// region (HMACRegion, "auto" by default), "storage" and "goog4_request",
// kept for the day; the credential scope names that region. No Google
// library signs this way: the package's tests check it against
// aws-sdk-go-v2's SigV4 canonical request under GCS's scope, and against
// the verifying fake. Otherwise, with a service-account key (CredentialsFile or CredentialsJSON of
// type "service_account", or application default credentials that are such
// a file), the key is parsed once by New and every signature is made
// in-process: RSASSA-PKCS1-v1_5 over SHA-256. Without a key, each signature
// comes from the IAM Credentials API's signBlob, as GoogleAccessID,
// authenticated with a token from the credentials (CredentialsJSON of
// another type, or the application default credentials); that call is made
// with the request's context, so cancelling the request cancels it.
//
// Equivalence. Signed URLs, the headers a PUT must send and POST policy
// forms are byte for byte what cloud.google.com/go/storage makes for the
// same request at the same instant, after the URL form below (the package's
// tests compare both on thousands of random requests), with one exception:
// a Content-Type that begins with white space is signed trimmed, as GCS
// reads it, where the library signs the space and so makes a URL GCS
// refuses.
//
// Clock. Config.Now is the signing time: X-Goog-Date and a POST policy's
// x-goog-date come from it, and expiries are checked against it.
// UploadTarget.Expires is X-Goog-Date + X-Goog-Expires, exactly what the
// server will enforce.
//
// URLs. A signed URL comes in the form GCS documents: query spaces as %20
// and X-Goog-Signature last. Its lifetime, X-Goog-Expires, is the time left
// until the requested expiry rounded up to a whole second and counted from
// X-Goog-Date (itself whole seconds), so the URL stops working within a
// second of the requested instant; UploadTarget.Expires is the exact result.
//
// Hosts. Signed URLs and JSON API calls go to Config.Endpoint when it is
// set; else to the host the STORAGE_EMULATOR_HOST environment variable
// names (plain http unless it starts with "https://"), with JSON API calls
// unauthenticated, as emulators expect; else to storage.googleapis.com over
// https.
//
// JSON API. Stat and Delete are a GET and a DELETE of
// /storage/v1/b/{bucket}/o/{object}, authenticated with an OAuth token from
// the credentials unless Config.HTTPClient is set or an emulator is in use.
// A JSON API or signBlob call answered 408, 429, 500, 502, 503 or 504, or
// failing in transport, is tried again with backoff, up to four attempts in
// all, while its context allows.
//
// What an upload target binds:
//
//   - PUT: Content-Type (when set), Content-Disposition (when set and not
//     all white space) and the checksum as signed headers: Content-MD5 for
//     MD5, "x-goog-hash: crc32c=<base64>" for CRC32C; GCS refuses a body
//     that does not match. The client must send exactly UploadTarget.Headers.
//     SHA256 fails with signer.ErrUnsupported: GCS keeps no SHA-256 of an
//     object, so Stat could never confirm it (x-goog-content-sha256 only
//     feeds the signature). An exact size cannot be bound on a signed PUT;
//     Stat is the check. A request that declares no size (Size 0) but a
//     limit (MaxSize > 0) binds "x-goog-content-length-range: 0,<MaxSize>"
//     as a signed header: GCS refuses a larger body, and a client that
//     drops or changes the header breaks the signature.
//   - Part of a multipart upload: the part number and upload id in the
//     signed query, "x-goog-content-length-range: size,size" (the exact
//     part size) and, for a CRC32C part checksum, x-goog-hash as signed
//     headers. SHA256 part checksums fail with signer.ErrUnsupported.
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
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/auth"
	"cloud.google.com/go/auth/credentials"
	"cloud.google.com/go/compute/metadata"

	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/signer/internal/derivedkey"
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
	// "external_account") only authenticates the Signer's calls, and
	// signing goes through IAM signBlob. When both are empty the
	// application default credentials are used.
	CredentialsFile string
	// CredentialsJSON is the content of such a file.
	CredentialsJSON []byte
	// GoogleAccessID is the service account that signs. With a
	// service-account key it defaults to the key's client_email and, when
	// set, must equal it. Without a key, signing goes through IAM signBlob
	// as this account; when empty, New takes it from the credentials JSON
	// (client_email, or the account of service_account_impersonation_url),
	// and failing that the first signing asks the GCE metadata server for
	// the default service account, keeping the answer once it has one.
	GoogleAccessID string
	// Endpoint is the base URL of a GCS-compatible server, such as
	// "http://127.0.0.1:4443" (scheme and host required). It serves the
	// JSON API under /storage/v1/ (appended when Endpoint has no path; a
	// path, when given, is the JSON API's base) and is the host of signed
	// URLs; an "http" endpoint yields http URLs. Empty means
	// storage.googleapis.com over https, unless the STORAGE_EMULATOR_HOST
	// environment variable names another host.
	Endpoint string
	// VirtualHostStyle puts the bucket in the host name
	// (bucket.host/key) rather than the path (host/bucket/key).
	VirtualHostStyle bool
	// Now is the clock: it is the signing time (X-Goog-Date, a POST
	// policy's x-goog-date) and the time expiries are checked against. Nil
	// means time.Now.
	Now func() time.Time
	// HMACAccessID and HMACSecret are a GCS HMAC key (both or neither).
	// With one, every URL and POST policy is signed GOOG4-HMAC-SHA256
	// in-process under the key (its derived key cached for the day): no
	// service-account key and no signBlob call, and GoogleAccessID must be
	// empty. Credentials (or the application default credentials) then
	// only authenticate the JSON API calls of Stat and Delete.
	HMACAccessID string
	HMACSecret   string
	// HMACRegion is the region of an HMAC key's credential scope: "auto"
	// (the default, accepted for every bucket) or the bucket's location in
	// lower case, such as "us-central1".
	HMACRegion string
	// HTTPClient, when set, carries every call the Signer makes (JSON API,
	// IAM signBlob) as it is: the Signer adds no authentication to it, so
	// it must authenticate itself where the server needs it. Credentials
	// still provide the signing key. For tests and emulators.
	HTTPClient *http.Client
}

// Signer signs GCS targets and looks at GCS objects. It implements
// signer.Signer, signer.PostPolicySigner, signer.MultipartUploader and
// signer.MultipartLister, and is safe for concurrent use.
type Signer struct {
	bucket string
	now    func() time.Time
	// key is the parsed service-account key; nil means IAM signBlob.
	key *rsa.PrivateKey
	// accessID is the signing account when known by New; detected holds
	// the one the metadata server named, once asked.
	accessID string
	detected atomic.Pointer[string]
	detectMu sync.Mutex
	// scheme is how signatures are made; hmac, when set, holds the HMAC
	// key's derived keys, and hmacID and hmacSecret the key itself.
	scheme     *scheme
	hmac       *derivedkey.Cache
	hmacID     string
	hmacSecret string

	// to is where signed URLs and POST forms point.
	to endpoint
	// objects is the JSON API's URL of the bucket's objects, ending in "/o/".
	objects string
	// uploads is the JSON API's media upload URL of the bucket's objects
	// (without query).
	uploads string
	// iam is the URL signBlob is appended to (account + ":signBlob").
	iam    string
	client *http.Client
	// ownTransport is the transport New made for client, if it did.
	ownTransport *http.Transport
	// creds authenticates calls; nil sends them as they are.
	creds        *auth.Credentials
	quotaProject string
}

var (
	_ signer.Signer           = (*Signer)(nil)
	_ signer.PostPolicySigner = (*Signer)(nil)
)

// defaultIAM is the IAM Credentials API's signBlob base.
const defaultIAM = "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/"

// scopes are the OAuth scopes the Signer's tokens carry: the JSON API's and
// signBlob's.
var scopes = []string{
	"https://www.googleapis.com/auth/devstorage.full_control",
	"https://www.googleapis.com/auth/cloud-platform",
}

// New builds a Signer from cfg. It fails when Bucket is empty, when both
// credential sources are set, when the credentials cannot be read or parsed
// (including an unparsable service-account private key), when GoogleAccessID
// contradicts the key's client_email, when Endpoint is not an http(s) URL
// with a host or STORAGE_EMULATOR_HOST is not a usable host, or when calls
// need authentication and no application default credentials are found.
// With credentials or an HTTPClient it makes no network call; with neither,
// the search for application default credentials may probe the GCE metadata
// server.
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

	s := &Signer{bucket: cfg.Bucket, accessID: cfg.GoogleAccessID, now: cfg.Now, iam: defaultIAM, scheme: rsaScheme}
	if s.now == nil {
		s.now = time.Now
	}
	if err := s.useHMAC(cfg); err != nil {
		return nil, fmt.Errorf("gcs: %w", err)
	}

	// Where requests go.
	var scheme, host, api string
	emulated := false
	switch env := os.Getenv("STORAGE_EMULATOR_HOST"); {
	case cfg.Endpoint != "":
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("gcs: Endpoint %q: want http(s)://host[:port]", cfg.Endpoint)
		}
		scheme, host, api = u.Scheme, u.Host, cfg.Endpoint
		if u.Path == "" || u.Path == "/" {
			api = strings.TrimSuffix(api, "/") + "/storage/v1/"
		}
	case env != "":
		emulated = true
		u := &url.URL{Scheme: "http", Host: env}
		if strings.Contains(env, "://") {
			var err error
			if u, err = url.Parse(env); err != nil || u.Host == "" {
				return nil, fmt.Errorf("gcs: STORAGE_EMULATOR_HOST %q: want host[:port] or http(s)://host[:port]", env)
			}
		}
		api = (&url.URL{Scheme: u.Scheme, Host: u.Host}).String() + "/storage/v1/"
		host, scheme = u.Host, "https"
		if !strings.Contains(env, "://") || strings.HasPrefix(env, "http://") {
			scheme = "http"
		}
	default:
		scheme, host, api = "https", "storage.googleapis.com", "https://storage.googleapis.com/storage/v1/"
	}
	if !strings.HasSuffix(api, "/") {
		api += "/"
	}
	s.to = newEndpoint(scheme, host, cfg.Bucket, cfg.VirtualHostStyle)
	s.objects = api + "b/" + escape(cfg.Bucket, false) + "/o/"
	s.uploads = uploadBase(api) + "b/" + escape(cfg.Bucket, false) + "/o"

	var credType credentials.CredType
	if len(credJSON) > 0 {
		info, err := parseCredentials(credJSON)
		if err != nil {
			return nil, fmt.Errorf("gcs: %w", err)
		}
		var ok bool
		if credType, ok = credTypes[info.Type]; !ok {
			return nil, fmt.Errorf("gcs: unsupported credentials type %q", info.Type)
		}
		if err := s.useCredentials(info); err != nil {
			return nil, fmt.Errorf("gcs: %w", err)
		}
	}

	if cfg.HTTPClient != nil {
		s.client = cfg.HTTPClient
		return s, nil
	}
	s.ownTransport = http.DefaultTransport.(*http.Transport).Clone()
	s.client = &http.Client{Transport: s.ownTransport}
	if emulated {
		return s, nil
	}
	var err error
	if len(credJSON) > 0 {
		s.creds, err = credentials.NewCredentialsFromJSON(credType, credJSON, &credentials.DetectOptions{Scopes: scopes})
	} else {
		s.creds, err = credentials.DetectDefault(&credentials.DetectOptions{Scopes: scopes})
	}
	if err != nil {
		return nil, fmt.Errorf("gcs: credentials: %w", err)
	}
	if len(credJSON) == 0 && len(s.creds.JSON()) > 0 {
		// Application default credentials from a file: a service-account
		// key there signs as an explicit one would.
		if info, err := parseCredentials(s.creds.JSON()); err == nil {
			if err := s.useCredentials(info); err != nil {
				return nil, fmt.Errorf("gcs: application default credentials: %w", err)
			}
		}
	}
	if s.quotaProject, err = s.creds.QuotaProjectID(ctx); err != nil {
		return nil, fmt.Errorf("gcs: credentials: %w", err)
	}
	return s, nil
}

// useHMAC sets up signing with cfg's HMAC key, if it has one.
func (s *Signer) useHMAC(cfg Config) error {
	if cfg.HMACAccessID == "" && cfg.HMACSecret == "" {
		if cfg.HMACRegion != "" {
			return errors.New("HMACRegion is set without an HMAC key")
		}
		return nil
	}
	switch {
	case cfg.HMACAccessID == "" || cfg.HMACSecret == "":
		return errors.New("set both HMACAccessID and HMACSecret, or neither")
	case cfg.GoogleAccessID != "":
		return errors.New("set at most one of GoogleAccessID and an HMAC key: the HMAC key's access id is the signer")
	case strings.ContainsAny(cfg.HMACAccessID, "/ \t\r\n"):
		return fmt.Errorf("HMACAccessID %q has a slash or white space", cfg.HMACAccessID)
	}
	region := cfg.HMACRegion
	if region == "" {
		region = "auto"
	}
	for _, c := range []byte(region) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return fmt.Errorf("HMACRegion %q: want auto or a location such as us-central1 (lower-case letters, digits, hyphens)", cfg.HMACRegion)
		}
	}
	s.scheme = hmacScheme(region)
	s.hmac = derivedkey.New(derivedkey.Scheme{Prefix: "GOOG4", Region: region, Service: "storage", Terminator: "goog4_request"})
	s.hmacID, s.hmacSecret = cfg.HMACAccessID, cfg.HMACSecret
	return nil
}

// credTypes are the credentials file types a Signer accepts.
var credTypes = map[string]credentials.CredType{
	"service_account":              credentials.ServiceAccount,
	"authorized_user":              credentials.AuthorizedUser,
	"impersonated_service_account": credentials.ImpersonatedServiceAccount,
	"external_account":             credentials.ExternalAccount,
}

// credInfo is what a Signer reads from a credentials file itself.
type credInfo struct {
	Type             string `json:"type"`
	PrivateKey       string `json:"private_key"`
	ClientEmail      string `json:"client_email"`
	ImpersonationURL string `json:"service_account_impersonation_url"`
}

func parseCredentials(b []byte) (credInfo, error) {
	var c credInfo
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("parse credentials: %w", err)
	}
	return c, nil
}

// useCredentials takes the signing key and account from a credentials file:
// a service account's key and client_email, or the account an impersonating
// credential names.
func (s *Signer) useCredentials(c credInfo) error {
	switch c.Type {
	case "service_account":
		if c.PrivateKey == "" {
			if s.accessID == "" {
				s.accessID = c.ClientEmail
			}
			return nil
		}
		key, err := parseKey([]byte(c.PrivateKey))
		if err != nil {
			return fmt.Errorf("service-account private key: %w", err)
		}
		if c.ClientEmail == "" {
			return errors.New("service-account credentials have no client_email")
		}
		if s.hmac != nil {
			// The HMAC key signs; the credentials only authenticate.
			return nil
		}
		if s.accessID != "" && s.accessID != c.ClientEmail {
			return fmt.Errorf("GoogleAccessID %q is not the key's client_email %q", s.accessID, c.ClientEmail)
		}
		s.key = key
		s.accessID = c.ClientEmail
	case "impersonated_service_account", "external_account":
		// .../serviceAccounts/{account}:generateAccessToken
		u := c.ImpersonationURL
		if start, end := strings.LastIndex(u, "/"), strings.LastIndex(u, ":"); s.accessID == "" && start < end {
			s.accessID = u[start+1 : end]
		}
	}
	return nil
}

// Close releases the Signer's idle connections. The Signer must not be used
// after.
func (s *Signer) Close() error {
	if s.ownTransport != nil {
		s.ownTransport.CloseIdleConnections()
	}
	return nil
}

// GoogleAccessID is the account URLs are signed as (an HMAC key's access id
// when there is one); empty while it is still to be asked of the GCE
// metadata server.
func (s *Signer) GoogleAccessID() string {
	if s.hmac != nil {
		return s.hmacID
	}
	if s.accessID != "" {
		return s.accessID
	}
	if p := s.detected.Load(); p != nil {
		return *p
	}
	return ""
}

// SignUpload returns a V4 signed PUT target binding what req asks (see the
// package comment). It fails with an error wrapping signer.ErrInvalidKey for
// a bad key and signer.ErrUnsupported for a checksum algorithm GCS cannot
// bind (SHA256, or one it does not know), and with a plain error for a
// malformed checksum value, a header value with control characters, an
// expiry that is not in the future or is more than MaxExpiry ahead, or a
// failure to sign (signBlob, or finding the account to sign as).
func (s *Signer) SignUpload(ctx context.Context, req signer.UploadRequest) (signer.UploadTarget, error) {
	now := s.now().UTC()
	if err := s.check(ctx, req.Key, now, req.Expires); err != nil {
		return signer.UploadTarget{}, err
	}
	headers := make(map[string]string, 4)
	signed := make([]header, 0, 3)
	if req.ContentType != "" {
		if !validHeaderValue(req.ContentType) {
			return signer.UploadTarget{}, fmt.Errorf("gcs: sign upload %s: content type has control characters", req.Key)
		}
		signed = append(signed, header{"content-type", req.ContentType})
		headers["Content-Type"] = req.ContentType
	}
	if req.ContentDisposition != "" {
		if !validHeaderValue(req.ContentDisposition) {
			return signer.UploadTarget{}, fmt.Errorf("gcs: sign upload %s: content disposition has control characters", req.Key)
		}
		if !isBlank(req.ContentDisposition) {
			signed = append(signed, header{"content-disposition", req.ContentDisposition})
		}
		headers["Content-Disposition"] = req.ContentDisposition
	}
	if !req.Checksum.IsZero() {
		name, value, err := checksumHeader(req.Checksum)
		if err != nil {
			return signer.UploadTarget{}, fmt.Errorf("gcs: sign upload %s: %w", req.Key, err)
		}
		signed = append(signed, header{name, value})
		headers[name] = value
	}
	if req.Size == 0 && req.MaxSize > 0 {
		lengthRange := "0," + strconv.FormatInt(req.MaxSize, 10)
		signed = append(signed, header{"x-goog-content-length-range", lengthRange})
		headers["x-goog-content-length-range"] = lengthRange
	}
	u, exp, err := s.signURL(ctx, http.MethodPut, req.Key, signed, nil, now, req.Expires)
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
	now := s.now().UTC()
	if err := s.check(ctx, req.Key, now, req.Expires); err != nil {
		return "", err
	}
	var query []param
	if req.ResponseContentDisposition != "" {
		query = append(query, param{"response-content-disposition", req.ResponseContentDisposition})
	}
	if req.ResponseContentType != "" {
		query = append(query, param{"response-content-type", req.ResponseContentType})
	}
	u, _, err := s.signURL(ctx, http.MethodGet, req.Key, nil, query, now, req.Expires)
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
	now := s.now().UTC()
	exp := req.Expires.UTC().Truncate(time.Second)
	if !exp.After(now) {
		return signer.UploadTarget{}, fmt.Errorf("gcs: sign post %s: expiry %s is not in the future", req.Key, req.Expires.Format(time.RFC3339))
	}
	if !validHeaderValue(req.ContentType) || !validHeaderValue(req.ContentDisposition) {
		return signer.UploadTarget{}, fmt.Errorf("gcs: sign post %s: content type or disposition has control characters", req.Key)
	}
	account, err := s.account(ctx)
	if err != nil {
		return signer.UploadTarget{}, fmt.Errorf("gcs: sign post %s: %w", req.Key, err)
	}
	p := postRequest{
		bucket: s.bucket, key: req.Key,
		contentType: req.ContentType, contentDisposition: req.ContentDisposition,
		account: account, now: now, expires: exp, scheme: s.scheme,
	}
	if req.MaxSize > 0 {
		var lo uint64
		if req.Size > 0 {
			lo = 1
		}
		p.lengthRange = &[2]uint64{lo, uint64(req.MaxSize)}
	}
	policy, fields, err := p.policy()
	if err != nil {
		return signer.UploadTarget{}, fmt.Errorf("gcs: sign post %s: %w", req.Key, err)
	}
	sig, err := s.sign(ctx, account, now, []byte(policy))
	if err != nil {
		return signer.UploadTarget{}, fmt.Errorf("gcs: sign post %s: %w", req.Key, err)
	}
	fields["policy"] = policy
	fields["x-goog-signature"] = hex.EncodeToString(sig)
	return signer.UploadTarget{Method: http.MethodPost, URL: s.to.postURL(), FormFields: fields, Expires: exp}, nil
}

// Stat describes the object at key. Checksums holds MD5 (absent for
// composite objects and those a multipart upload made, which GCS keeps no
// MD5 of) and CRC32C (big-endian, base64; GCS computes it over the whole
// object, multipart or not), each when GCS reports it. A missing object yields an error wrapping signer.ErrNotFound; GCS
// unreachable or failing transiently (after retries), one wrapping
// signer.ErrUnavailable; another refusal, an error naming GCS's status and
// message.
func (s *Signer) Stat(ctx context.Context, key string) (signer.ObjectInfo, error) {
	if err := signer.ValidateKey(key); err != nil {
		return signer.ObjectInfo{}, fmt.Errorf("gcs: %w", err)
	}
	status, body, err := s.roundTrip(ctx, http.MethodGet, s.objectURL(key), nil)
	if err == nil && status == http.StatusNotFound {
		return signer.ObjectInfo{}, fmt.Errorf("gcs: stat %s: %w", key, signer.ErrNotFound)
	}
	unavailable := retryable(ctx, status, err)
	if err == nil && status != http.StatusOK {
		err = newAPIError(status, body)
	}
	if err != nil {
		if unavailable {
			err = fmt.Errorf("%w: %w", signer.ErrUnavailable, err)
		}
		return signer.ObjectInfo{}, fmt.Errorf("gcs: stat %s: %w", key, err)
	}
	var o struct {
		Size        json.RawMessage `json:"size"`
		MD5Hash     string          `json:"md5Hash"`
		CRC32C      string          `json:"crc32c"`
		ContentType string          `json:"contentType"`
		ETag        string          `json:"etag"`
		Updated     string          `json:"updated"`
	}
	if err := json.Unmarshal(body, &o); err != nil {
		return signer.ObjectInfo{}, fmt.Errorf("gcs: stat %s: object resource: %w", key, err)
	}
	// The JSON API states size as a decimal string.
	size, err := strconv.ParseInt(strings.Trim(string(o.Size), `"`), 10, 64)
	if err != nil || size < 0 {
		return signer.ObjectInfo{}, fmt.Errorf("gcs: stat %s: object resource has size %s", key, o.Size)
	}
	info := signer.ObjectInfo{
		Size:        size,
		ContentType: o.ContentType,
		ETag:        o.ETag,
		Checksums:   make(map[string]string, 2),
	}
	if t, err := time.Parse(time.RFC3339, o.Updated); err == nil {
		info.Modified = t
	}
	if b, err := base64.StdEncoding.DecodeString(o.MD5Hash); err == nil && len(b) == 16 {
		info.Checksums[signer.MD5] = base64.StdEncoding.EncodeToString(b)
	}
	if b, err := base64.StdEncoding.DecodeString(o.CRC32C); err == nil && len(b) == 4 {
		info.Checksums[signer.CRC32C] = base64.StdEncoding.EncodeToString(b)
	}
	return info, nil
}

// Delete removes the object at key; a missing object is not an error.
// Another refusal is an error naming GCS's status and message.
func (s *Signer) Delete(ctx context.Context, key string) error {
	if err := signer.ValidateKey(key); err != nil {
		return fmt.Errorf("gcs: %w", err)
	}
	status, body, err := s.roundTrip(ctx, http.MethodDelete, s.objectURL(key), nil)
	unavailable := retryable(ctx, status, err)
	if err == nil && status != http.StatusNoContent && status != http.StatusOK && status != http.StatusNotFound {
		err = newAPIError(status, body)
	}
	if err != nil {
		if unavailable {
			err = fmt.Errorf("%w: %w", signer.ErrUnavailable, err)
		}
		return fmt.Errorf("gcs: delete %s: %w", key, err)
	}
	return nil
}

// StorageURI returns gs://bucket/key.
func (s *Signer) StorageURI(key string) string { return "gs://" + s.bucket + "/" + key }

// objectURL is the JSON API URL of the object at key.
func (s *Signer) objectURL(key string) string {
	return s.objects + escape(key, false) + "?alt=json&prettyPrint=false"
}

// check validates what every signed URL needs: a live context, a valid key
// and an expiry the V4 scheme can state from now.
func (s *Signer) check(ctx context.Context, key string, now, expires time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := signer.ValidateKey(key); err != nil {
		return fmt.Errorf("gcs: %w", err)
	}
	d := expires.Sub(now)
	if d <= 0 || d > MaxExpiry {
		return fmt.Errorf("gcs: %s: expiry %s is not in the future and within %s", key, expires.Format(time.RFC3339), MaxExpiry)
	}
	return nil
}

// signURL signs a URL for method on key at now, binding headers and query,
// and returns it with the instant it stops working. X-Goog-Expires is the
// time left until expires rounded up to a whole second, so a near expiry is
// never 0 and a whole-second lifetime is kept exactly.
func (s *Signer) signURL(ctx context.Context, method, key string, headers []header, query []param, now, expires time.Time) (string, time.Time, error) {
	account, err := s.account(ctx)
	if err != nil {
		return "", time.Time{}, err
	}
	lifetime := int64((expires.Sub(now) + time.Second - 1) / time.Second)
	bp := scratch.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= maxScratch {
			scratch.Put(bp)
		}
	}()
	c := s.to.build(&urlRequest{
		method: method, key: key, headers: headers, query: query,
		account: account, now: now, lifetime: lifetime, scheme: s.scheme,
	}, *bp)
	*bp = c.buf
	var sigBuf [sha256.Size]byte
	var sig []byte
	if s.hmac != nil {
		sig = s.hmacKey(now).Sign(sigBuf[:0], c.sts())
	} else if sig, err = s.sign(ctx, account, now, c.sts()); err != nil {
		return "", time.Time{}, err
	}
	const sigParam = "&X-Goog-Signature="
	var b strings.Builder
	b.Grow(len(s.to.origin) + c.queryEnd + len(sigParam) + 2*len(sig))
	b.WriteString(s.to.origin)
	b.Write(c.pathAndQuery())
	b.WriteString(sigParam)
	var hexSig [2 * 512]byte
	if 2*len(sig) <= len(hexSig) {
		hex.Encode(hexSig[:], sig)
		b.Write(hexSig[:2*len(sig)])
	} else {
		b.WriteString(hex.EncodeToString(sig))
	}
	return b.String(), now.Truncate(time.Second).Add(time.Duration(lifetime) * time.Second), nil
}

// scratch holds the buffers signURL lays a request out in; buffers grown
// beyond maxScratch (a very long key) are left to the collector.
var scratch = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

const maxScratch = 16 << 10

// hmacKey is the HMAC key's signing key for now's day.
func (s *Signer) hmacKey(now time.Time) *derivedkey.Key {
	var day [8]byte
	return s.hmac.Key(s.hmacID, s.hmacSecret, now.UTC().AppendFormat(day[:0], dayFormat))
}

// sign signs b as account at now: HMAC-SHA256 under the HMAC key's key
// derived for now's day, RSASSA-PKCS1-v1_5 over SHA-256 with the
// service-account key, or IAM signBlob without either.
func (s *Signer) sign(ctx context.Context, account string, now time.Time, b []byte) ([]byte, error) {
	if s.hmac != nil {
		return s.hmacKey(now).Sign(nil, b), nil
	}
	if s.key == nil {
		return s.signBlob(ctx, account, b)
	}
	sum := sha256.Sum256(b)
	return rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, sum[:])
}

// account is the service account to sign as: the configured or credentials'
// one, or else the GCE default service account, asked of the metadata server
// once it answers.
func (s *Signer) account(ctx context.Context) (string, error) {
	if s.hmac != nil {
		return s.hmacID, nil
	}
	if s.accessID != "" {
		return s.accessID, nil
	}
	if p := s.detected.Load(); p != nil {
		return *p, nil
	}
	s.detectMu.Lock()
	defer s.detectMu.Unlock()
	if p := s.detected.Load(); p != nil {
		return *p, nil
	}
	if !metadata.OnGCEWithContext(ctx) {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		return "", errors.New("no GoogleAccessID: none is configured, the credentials name no service account, and no GCE metadata server answers")
	}
	email, err := metadata.EmailWithContext(ctx, "default")
	if err != nil {
		return "", fmt.Errorf("no GoogleAccessID: GCE metadata server: %w", err)
	}
	if email == "" {
		return "", errors.New("no GoogleAccessID: the GCE metadata server names no default service account")
	}
	s.detected.Store(&email)
	return email, nil
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
