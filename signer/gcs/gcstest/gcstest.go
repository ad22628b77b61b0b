// Package gcstest runs a stand-in for Google Cloud Storage in tests: an
// in-process fake-gcs-server (which accepts any signature) behind an HTTP
// handler that checks signed requests the way GCS does before anything
// reaches the fake.
//
// What the handler enforces:
//
//   - V4 signed URLs (X-Goog-Signature in the query): algorithm
//     GOOG4-RSA-SHA256 with a credential naming the trusted service account
//     and the day of X-Goog-Date, or GOOG4-HMAC-SHA256 with a credential
//     naming the trusted HMAC key, that day, and the region "auto" or the
//     bucket's location, X-Goog-Expires in [1, 604800] and not yet
//     passed (by Server.Now), and an RSASSA-PKCS1-v1_5/SHA-256 signature,
//     under the service account's public key, over the string-to-sign
//     rebuilt from the request (method, path, query without X-Goog-Signature,
//     the X-Goog-SignedHeaders with the values the request carries, and
//     UNSIGNED-PAYLOAD or the x-goog-content-sha256 value), or the
//     HMAC-SHA256 of that string under the key derived from the HMAC
//     secret, day, region, "storage" and "goog4_request". Any failure is
//     403, as GCS answers. A PUT's body is then checked against Content-MD5,
//     x-goog-hash (crc32c=, md5=) and x-goog-content-sha256 when sent (400
//     BadDigest on a mismatch) and stored; GET and HEAD serve the object
//     with response-content-type / response-content-disposition applied.
//   - HTML-form POST uploads (multipart/form-data to /bucket/ or to the
//     bucket's virtual host): the policy's signature, its expiration, every
//     condition (exact matches, "eq", "starts-with", content-length-range,
//     bucket) and that every form field but file, policy, x-goog-signature
//     and x-ignore-* is covered by a condition; 403 otherwise, 400 for a file
//     outside content-length-range. The file is then stored with the form's
//     content-type and content-disposition.
//   - A PUT (object or part) that sends x-goog-content-length-range
//     ("min,max") is refused with 400 when its body is outside the range.
//   - XML API multipart uploads, which fake-gcs-server lacks, each through
//     a verified signed URL: initiate (POST /key?uploads, keeping the
//     Content-Type and Content-Disposition sent), part upload
//     (PUT /key?partNumber=N&uploadId=ID, body checked as a PUT's, ETag the
//     quoted hex MD5, a part sent again replacing the earlier one), list
//     parts (GET /key?uploadId=ID, paged by max-parts and
//     part-number-marker), complete (POST /key?uploadId=ID with a
//     CompleteMultipartUpload document: 400 InvalidPartOrder, InvalidPart
//     for a part not held or held with another ETag, EntityTooSmall for a
//     part but the last under MinPartSize), abort (DELETE /key?uploadId=ID)
//     and list uploads (GET /bucket?uploads, paged by max-uploads,
//     key-marker and upload-id-marker). An unknown upload id, or one for
//     another key, is 404 NoSuchUpload. Parts are kept in memory, at most
//     MaxPartBytes in all. A completed upload's object is stored in the fake
//     with the initiation's content type and disposition and, as GCS has
//     it, a CRC32C but no MD5 (the JSON API's object resource and
//     x-goog-hash leave it out) and an ETag that is not an MD5.
//   - Every response carries a Date header from Server.Now (SetNow skews
//     the server's clock). GET /storage/v1/b/{bucket} answers the bucket
//     resource with its location and the CORS rules SetCORS set.
//   - JSON API calls (/storage/v1/, /upload/storage/v1/,
//     /download/storage/v1/) go to the fake; their Authorization, if any,
//     is not checked, as emulators do not.
//
// Server.Client dials the server whatever the host name, so
// virtual-host-style URLs (bucket.127.0.0.1:port) work. A gcs.Signer for a
// Server is configured as
//
//	gcs.Config{Bucket: srv.Bucket, CredentialsJSON: srv.CredentialsJSON,
//		Endpoint: srv.URL, HTTPClient: srv.Client()}
//
// HTTPClient may be left out: the Signer then authenticates its JSON API
// calls with a token from the credentials' token_uri, which is this server's
// /token, as another process (the presignd binary) does.
package gcstest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fsouza/fake-gcs-server/fakestorage"
)

// DefaultGoogleAccessID is the service account a Server trusts.
const DefaultGoogleAccessID = "presignd-test@presignd-test.iam.gserviceaccount.com"

// maxBody bounds what the server reads of an upload with no size condition.
const maxBody = 64 << 20

var (
	keyOnce sync.Once
	testKey *rsa.PrivateKey
	keyErr  error
)

// Key returns the RSA-2048 service-account key every Server trusts,
// generated once per process.
func Key() (*rsa.PrivateKey, error) {
	keyOnce.Do(func() { testKey, keyErr = rsa.GenerateKey(rand.Reader, 2048) })
	return testKey, keyErr
}

// Server is a verifying GCS stand-in holding one bucket.
type Server struct {
	// URL is the server's base URL (http://127.0.0.1:port): the Endpoint of
	// a gcs.Config.
	URL string
	// Bucket is the bucket the server holds.
	Bucket string
	// GoogleAccessID is the service account whose signatures are accepted.
	GoogleAccessID string
	// CredentialsJSON is a "service_account" credentials file for it.
	CredentialsJSON []byte
	// Key is the account's private key.
	Key *rsa.PrivateKey
	// HMACAccessID and HMACSecret are an HMAC key whose GOOG4-HMAC-SHA256
	// signatures are accepted too (DefaultHMACAccessID and
	// DefaultHMACSecret).
	HMACAccessID, HMACSecret string
	// Fake is the storage behind the verifier, for seeding and inspection.
	Fake *fakestorage.Server
	// MinPartSize is the smallest size of every part but the last that
	// completing a multipart upload accepts; 0 means GCS's 5 MiB. Tests
	// may lower it. Set it before the first request.
	MinPartSize int64
	// MaxPartBytes bounds the bytes of multipart parts held at once, over
	// all uploads; a part past it is refused with 400. 0 means
	// DefaultMaxPartBytes. Set it before the first request.
	MaxPartBytes int64

	httpSrv   *httptest.Server
	closeOnce sync.Once
	mu        sync.Mutex
	now       func() time.Time
	cors      []CORS
	mp        multipart
}

// NewServer starts a Server holding an empty bucket and stops it when t
// ends. It fails t if the server cannot start.
func NewServer(t testing.TB, bucket string) *Server {
	t.Helper()
	key, err := Key()
	if err != nil {
		t.Fatalf("gcstest: key: %v", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("gcstest: key: %v", err)
	}
	fake, err := fakestorage.NewServerWithOptions(fakestorage.Options{NoListener: true, Writer: io.Discard})
	if err != nil {
		t.Fatalf("gcstest: fake-gcs-server: %v", err)
	}
	fake.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: bucket})
	s := &Server{
		Bucket:         bucket,
		GoogleAccessID: DefaultGoogleAccessID,
		Key:            key,
		Fake:           fake,
		HMACAccessID:   DefaultHMACAccessID,
		HMACSecret:     DefaultHMACSecret,
		now:            time.Now,
	}
	s.httpSrv = httptest.NewServer(s)
	s.URL = s.httpSrv.URL
	t.Cleanup(s.Close)
	// The credentials' token endpoint is this server, so a client in another
	// process (the presignd binary) authenticates without reaching Google.
	creds, err := json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     "presignd-test",
		"private_key_id": "0000000000000000000000000000000000000000",
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   DefaultGoogleAccessID,
		"client_id":      "000000000000000000000",
		"token_uri":      s.URL + "/token",
	})
	if err != nil {
		t.Fatalf("gcstest: credentials: %v", err)
	}
	s.CredentialsJSON = creds
	return s
}

// Close stops the server; it is safe to call more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.httpSrv.Close()
		s.Fake.Stop()
	})
}

// SetNow sets the clock expiries are checked against (time.Now by default)
// and every response's Date header states, so a clock set apart from the
// real one is a server whose clock is skewed.
func (s *Server) SetNow(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// Now reads the server's clock.
func (s *Server) Now() time.Time {
	s.mu.Lock()
	now := s.now
	s.mu.Unlock()
	return now()
}

// Client returns an HTTP client that reaches this server for any host
// name, such as the bucket's virtual host.
func (s *Server) Client() *http.Client {
	addr := s.httpSrv.Listener.Addr().String()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	tr.Proxy = nil
	return &http.Client{Transport: tr}
}

// gcsError is a failure answered as GCS does: a status and an XML body.
type gcsError struct {
	status  int
	code    string
	message string
}

func (e *gcsError) Error() string { return e.code + ": " + e.message }

func denied(code, format string, args ...any) *gcsError {
	return &gcsError{http.StatusForbidden, code, fmt.Sprintf(format, args...)}
}

func badRequest(code, format string, args ...any) *gcsError {
	return &gcsError{http.StatusBadRequest, code, fmt.Sprintf(format, args...)}
}

func writeError(w http.ResponseWriter, err error) {
	var ge *gcsError
	if !errors.As(err, &ge) {
		ge = &gcsError{http.StatusInternalServerError, "InternalError", err.Error()}
	}
	var msg bytes.Buffer
	_ = xmlEscape(&msg, ge.message)
	w.Header().Set("Content-Type", "application/xml; charset=UTF-8")
	w.WriteHeader(ge.status)
	fmt.Fprintf(w, "<?xml version='1.0' encoding='UTF-8'?><Error><Code>%s</Code><Message>%s</Message></Error>", ge.code, msg.String())
}

// ServeHTTP routes a request: JSON API to the fake, signed URLs and POST
// forms through verification.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Date", s.Now().UTC().Format(http.TimeFormat))
	p := r.URL.Path
	switch {
	case r.Method == http.MethodGet && (p == "/storage/v1/b/"+s.Bucket || p == "/storage/v1/b/"+s.Bucket+"/"):
		s.serveBucket(w)
	case p == "/token" && r.Method == http.MethodPost:
		// OAuth token endpoint of CredentialsJSON; JSON API calls are not
		// checked for a token, as a real emulator does not either.
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"access_token":"gcstest-token","token_type":"Bearer","expires_in":3600}`)
	case strings.HasPrefix(p, "/storage/v1/"), strings.HasPrefix(p, "/upload/storage/v1/"), strings.HasPrefix(p, "/download/storage/v1/"):
		s.serveJSON(w, r)
	case r.URL.Query().Has("X-Goog-Signature"):
		s.serveSigned(w, r)
	case r.Method == http.MethodPost && isMultipart(r):
		if err := s.servePost(w, r); err != nil {
			writeError(w, err)
		}
	default:
		writeError(w, denied("AccessDenied", "anonymous caller does not have access to this resource"))
	}
}

func isMultipart(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "multipart/form-data"
}

// locate splits a request into bucket and object key, by virtual host
// (bucket.host) or path (/bucket/key).
func (s *Server) locate(r *http.Request) (bucket, key string) {
	host := hostname(r)
	if strings.HasPrefix(host, s.Bucket+".") {
		return s.Bucket, strings.TrimPrefix(r.URL.Path, "/")
	}
	bucket, key, _ = strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	return bucket, key
}

func hostname(r *http.Request) string {
	h := r.Host
	if h == "" {
		h = r.URL.Host
	}
	if host, _, err := net.SplitHostPort(h); err == nil {
		return host
	}
	return h
}

func (s *Server) serveSigned(w http.ResponseWriter, r *http.Request) {
	if err := s.verifyURL(r); err != nil {
		writeError(w, err)
		return
	}
	bucket, key := s.locate(r)
	if bucket != s.Bucket {
		writeError(w, &gcsError{http.StatusNotFound, "NoSuchBucket", "the bucket does not exist"})
		return
	}
	q := r.URL.Query()
	var err error
	switch {
	case key == "" && r.Method == http.MethodGet && q.Has("uploads"):
		err = s.listUploads(w, r)
	case key == "":
		err = badRequest("InvalidArgument", "no object name")
	case q.Has("uploadId"):
		switch r.Method {
		case http.MethodPut:
			err = s.uploadPart(w, r, key)
		case http.MethodGet:
			err = s.listParts(w, r, key)
		case http.MethodPost:
			err = s.complete(w, r, key)
		case http.MethodDelete:
			err = s.abort(w, r, key)
		default:
			err = &gcsError{http.StatusNotImplemented, "NotImplemented", r.Method + " of a multipart upload is not served by gcstest"}
		}
	case r.Method == http.MethodPost && q.Has("uploads"):
		err = s.initiate(w, r, key)
	case r.Method == http.MethodPut:
		err = s.put(w, r, key)
	case r.Method == http.MethodGet, r.Method == http.MethodHead:
		err = s.get(w, r, key)
	default:
		err = &gcsError{http.StatusNotImplemented, "NotImplemented", r.Method + " is not served by gcstest"}
	}
	if err != nil {
		writeError(w, err)
	}
}

// verifyURL checks a V4 signed URL request: credential, validity window and
// signature.
func (s *Server) verifyURL(r *http.Request) error {
	q := r.URL.Query()
	alg := q.Get("X-Goog-Algorithm")
	if alg != "GOOG4-RSA-SHA256" && alg != "GOOG4-HMAC-SHA256" {
		return denied("AccessDenied", "unsupported X-Goog-Algorithm %q", alg)
	}
	date := q.Get("X-Goog-Date")
	if alg == "GOOG4-RSA-SHA256" {
		if err := s.checkCredential(q.Get("X-Goog-Credential"), date); err != nil {
			return err
		}
	}
	signedAt, err := time.Parse("20060102T150405Z", date)
	if err != nil {
		return denied("AccessDenied", "malformed X-Goog-Date %q", date)
	}
	secs, err := strconv.Atoi(q.Get("X-Goog-Expires"))
	if err != nil || secs < 1 || secs > 604800 {
		return denied("AccessDenied", "X-Goog-Expires %q is not between 1 and 604800", q.Get("X-Goog-Expires"))
	}
	now := s.Now()
	if now.Before(signedAt.Add(-15 * time.Minute)) {
		return denied("AccessDenied", "request is not yet valid (X-Goog-Date %s)", date)
	}
	if !now.Before(signedAt.Add(time.Duration(secs) * time.Second)) {
		return denied("ExpiredToken", "request signature expired at %s", signedAt.Add(time.Duration(secs)*time.Second).Format(time.RFC3339))
	}
	sts, err := StringToSign(r)
	if err != nil {
		return denied("SignatureDoesNotMatch", "%v", err)
	}
	if alg == "GOOG4-HMAC-SHA256" {
		return s.checkHMAC(q.Get("X-Goog-Credential"), date, sts, q.Get("X-Goog-Signature"))
	}
	sig, err := hex.DecodeString(q.Get("X-Goog-Signature"))
	if err != nil {
		return denied("SignatureDoesNotMatch", "X-Goog-Signature is not hex")
	}
	sum := sha256.Sum256(sts)
	if rsa.VerifyPKCS1v15(&s.Key.PublicKey, crypto.SHA256, sum[:], sig) != nil {
		return denied("SignatureDoesNotMatch", "the request signature we calculated does not match the signature you provided")
	}
	return nil
}

// checkCredential checks "<account>/<yyyymmdd>/auto/storage/goog4_request"
// against the trusted account and the signing date.
func (s *Server) checkCredential(cred, date string) error {
	account, scope, ok := strings.Cut(cred, "/")
	if !ok || account != s.GoogleAccessID {
		return denied("AccessDenied", "credential %q does not name the trusted service account", cred)
	}
	if len(date) < 8 || scope != date[:8]+"/auto/storage/goog4_request" {
		return denied("AccessDenied", "credential scope %q does not match date %q", scope, date)
	}
	return nil
}

// CanonicalRequest rebuilds the V4 canonical request of a request made to a
// signed URL, as GCS does when it checks one. It works on a server-side
// request and on one built with http.NewRequest (host from URL.Host). It
// fails when X-Goog-SignedHeaders omits host or names a header the request
// does not carry.
func CanonicalRequest(r *http.Request) (string, error) {
	q := r.URL.Query()
	q.Del("X-Goog-Signature")
	query := strings.ReplaceAll(q.Encode(), "+", "%20")
	signed := q.Get("X-Goog-SignedHeaders")
	names := strings.Split(signed, ";")
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	b.WriteString(r.URL.EscapedPath())
	b.WriteByte('\n')
	b.WriteString(query)
	b.WriteByte('\n')
	payload := "UNSIGNED-PAYLOAD"
	hasHost := false
	for _, name := range names {
		var value string
		switch name {
		case "host":
			hasHost = true
			value = hostname(r)
		default:
			vals := r.Header.Values(name)
			if len(vals) == 0 {
				return "", fmt.Errorf("signed header %q is missing from the request", name)
			}
			for i, v := range vals {
				vals[i] = strings.Join(strings.Fields(v), " ")
			}
			value = strings.Join(vals, ",")
			if name == "x-goog-content-sha256" {
				payload = value
			}
		}
		b.WriteString(name)
		b.WriteByte(':')
		b.WriteString(value)
		b.WriteByte('\n')
	}
	if !hasHost {
		return "", errors.New("X-Goog-SignedHeaders does not include host")
	}
	b.WriteByte('\n')
	b.WriteString(signed)
	b.WriteByte('\n')
	b.WriteString(payload)
	return b.String(), nil
}

// StringToSign rebuilds the V4 string-to-sign of a request made to a signed
// URL: X-Goog-Algorithm (GOOG4-RSA-SHA256 or GOOG4-HMAC-SHA256),
// X-Goog-Date, credential scope and the hex SHA-256 of CanonicalRequest.
func StringToSign(r *http.Request) ([]byte, error) {
	canonical, err := CanonicalRequest(r)
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	_, scope, _ := strings.Cut(q.Get("X-Goog-Credential"), "/")
	sum := sha256.Sum256([]byte(canonical))
	return []byte(q.Get("X-Goog-Algorithm") + "\n" + q.Get("X-Goog-Date") + "\n" + scope + "\n" + hex.EncodeToString(sum[:])), nil
}

// put checks the body against the digests the request states and stores it.
func (s *Server) put(w http.ResponseWriter, r *http.Request, key string) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return badRequest("IncompleteBody", "reading body: %v", err)
	}
	if len(body) > maxBody {
		return badRequest("EntityTooLarge", "body over %d bytes", maxBody)
	}
	if err := checkLengthRange(r.Header, len(body)); err != nil {
		return err
	}
	if err := checkDigests(r.Header, body); err != nil {
		return err
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		ct = "application/octet-stream"
	}
	if err := s.store(key, ct, r.Header.Get("Content-Disposition"), body); err != nil {
		return err
	}
	sum := md5.Sum(body)
	w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:])+`"`)
	w.WriteHeader(http.StatusOK)
	return nil
}

// checkDigests compares body with Content-MD5, x-goog-hash and
// x-goog-content-sha256, each when present.
func checkDigests(h http.Header, body []byte) error {
	md5sum := md5.Sum(body)
	md5b64 := base64.StdEncoding.EncodeToString(md5sum[:])
	if v := h.Get("Content-MD5"); v != "" && v != md5b64 {
		return badRequest("BadDigest", "the Content-MD5 you specified did not match what we received")
	}
	var crc [4]byte
	binary.BigEndian.PutUint32(crc[:], crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)))
	crcb64 := base64.StdEncoding.EncodeToString(crc[:])
	for _, line := range h.Values("X-Goog-Hash") {
		for _, part := range strings.Split(line, ",") {
			alg, val, _ := strings.Cut(strings.TrimSpace(part), "=")
			switch alg {
			case "crc32c":
				if val != crcb64 {
					return badRequest("BadDigest", "the CRC32C you specified did not match what we received")
				}
			case "md5":
				if val != md5b64 {
					return badRequest("BadDigest", "the MD5 you specified did not match what we received")
				}
			default:
				return badRequest("InvalidArgument", "unknown x-goog-hash algorithm %q", alg)
			}
		}
	}
	if v := h.Get("X-Goog-Content-Sha256"); v != "" && v != "UNSIGNED-PAYLOAD" {
		sum := sha256.Sum256(body)
		if v != hex.EncodeToString(sum[:]) {
			return badRequest("BadDigest", "the x-goog-content-sha256 you specified did not match what we received")
		}
	}
	return nil
}

func (s *Server) store(key, contentType, disposition string, body []byte) error {
	obj := fakestorage.Object{
		ObjectAttrs: fakestorage.ObjectAttrs{
			BucketName:         s.Bucket,
			Name:               key,
			ContentType:        contentType,
			ContentDisposition: disposition,
		},
		Content: body,
	}
	if err := s.Fake.CreateObjectStreaming(obj.StreamingObject()); err != nil {
		return fmt.Errorf("storing %s: %w", key, err)
	}
	return nil
}

// get serves the object with the response-* overrides of the signed query.
func (s *Server) get(w http.ResponseWriter, r *http.Request, key string) error {
	obj, err := s.Fake.GetObject(s.Bucket, key)
	if err != nil {
		return &gcsError{http.StatusNotFound, "NoSuchKey", "the specified key does not exist"}
	}
	q := r.URL.Query()
	ct := obj.ContentType
	if v := q.Get("response-content-type"); v != "" {
		ct = v
	}
	cd := obj.ContentDisposition
	if v := q.Get("response-content-disposition"); v != "" {
		cd = v
	}
	h := w.Header()
	if ct != "" {
		h.Set("Content-Type", ct)
	}
	if cd != "" {
		h.Set("Content-Disposition", cd)
	}
	h.Set("Content-Length", strconv.Itoa(len(obj.Content)))
	h.Set("ETag", `"`+obj.Etag+`"`)
	if etag := s.compositeETag(key); etag != "" {
		h.Set("ETag", `"`+etag+`"`)
		h.Set("x-goog-hash", "crc32c="+obj.Crc32c)
	} else {
		h.Set("x-goog-hash", "crc32c="+obj.Crc32c+",md5="+obj.Md5Hash)
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(obj.Content)
	}
	return nil
}

// servePost verifies and stores an HTML-form POST upload. The fields that
// precede the file are checked against the policy before the file is read.
func (s *Server) servePost(w http.ResponseWriter, r *http.Request) error {
	bucket, rest := s.locate(r)
	if bucket != s.Bucket || rest != "" {
		return &gcsError{http.StatusNotFound, "NoSuchBucket", "POST to " + r.URL.Path + " names no bucket this server holds"}
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return badRequest("InvalidArgument", "multipart: %v", err)
	}
	fields := map[string]string{}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return badRequest("InvalidArgument", "POST form has no file field")
		}
		if err != nil {
			return badRequest("InvalidArgument", "multipart: %v", err)
		}
		name := strings.ToLower(part.FormName())
		if name != "file" {
			v, err := io.ReadAll(io.LimitReader(part, 1<<16))
			if err != nil {
				return badRequest("InvalidArgument", "reading field %s: %v", name, err)
			}
			fields[name] = string(v)
			continue
		}
		lo, hi, err := s.checkPolicy(bucket, fields)
		if err != nil {
			return err
		}
		limit := int64(maxBody)
		if hi >= 0 && hi < limit {
			limit = hi
		}
		body, err := io.ReadAll(io.LimitReader(part, limit+1))
		if err != nil {
			return badRequest("IncompleteBody", "reading file: %v", err)
		}
		if int64(len(body)) > limit {
			return badRequest("EntityTooLarge", "your proposed upload exceeds the maximum allowed size")
		}
		if int64(len(body)) < lo {
			return badRequest("EntityTooSmall", "your proposed upload is smaller than the minimum allowed size")
		}
		ct := fields["content-type"]
		if ct == "" {
			ct = part.Header.Get("Content-Type")
		}
		if ct == "" {
			ct = "application/octet-stream"
		}
		if err := s.store(fields["key"], ct, fields["content-disposition"], body); err != nil {
			return err
		}
		status := http.StatusNoContent
		switch fields["success_action_status"] {
		case "200":
			status = http.StatusOK
		case "201":
			status = http.StatusCreated
		}
		w.WriteHeader(status)
		return nil
	}
}

// checkPolicy verifies the policy's signature, expiry and conditions
// against the form fields and returns its content-length-range (hi < 0 when
// there is none).
func (s *Server) checkPolicy(bucket string, fields map[string]string) (lo, hi int64, err error) {
	hi = -1
	for _, f := range []string{"key", "policy", "x-goog-signature", "x-goog-algorithm", "x-goog-credential", "x-goog-date"} {
		if fields[f] == "" {
			return 0, 0, badRequest("InvalidArgument", "POST form is missing %s", f)
		}
	}
	switch fields["x-goog-algorithm"] {
	case "GOOG4-HMAC-SHA256":
		if err := s.checkHMAC(fields["x-goog-credential"], fields["x-goog-date"], []byte(fields["policy"]), fields["x-goog-signature"]); err != nil {
			return 0, 0, err
		}
	case "GOOG4-RSA-SHA256":
		if err := s.checkCredential(fields["x-goog-credential"], fields["x-goog-date"]); err != nil {
			return 0, 0, err
		}
		sig, err := hex.DecodeString(fields["x-goog-signature"])
		if err != nil {
			return 0, 0, denied("SignatureDoesNotMatch", "x-goog-signature is not hex")
		}
		sum := sha256.Sum256([]byte(fields["policy"]))
		if rsa.VerifyPKCS1v15(&s.Key.PublicKey, crypto.SHA256, sum[:], sig) != nil {
			return 0, 0, denied("SignatureDoesNotMatch", "the policy signature does not match")
		}
	default:
		return 0, 0, denied("AccessDenied", "unsupported x-goog-algorithm %q", fields["x-goog-algorithm"])
	}
	raw, err := base64.StdEncoding.DecodeString(fields["policy"])
	if err != nil {
		return 0, 0, badRequest("InvalidPolicyDocument", "policy is not base64")
	}
	var policy struct {
		Expiration string            `json:"expiration"`
		Conditions []json.RawMessage `json:"conditions"`
	}
	if err := json.Unmarshal(raw, &policy); err != nil {
		return 0, 0, badRequest("InvalidPolicyDocument", "policy: %v", err)
	}
	exp, err := time.Parse(time.RFC3339, policy.Expiration)
	if err != nil {
		return 0, 0, badRequest("InvalidPolicyDocument", "policy expiration %q", policy.Expiration)
	}
	if !s.Now().Before(exp) {
		return 0, 0, denied("AccessDenied", "policy expired at %s", policy.Expiration)
	}
	covered := map[string]bool{}
	value := func(name string) string {
		if name == "bucket" {
			return bucket
		}
		return fields[name]
	}
	for _, c := range policy.Conditions {
		var exact map[string]string
		if json.Unmarshal(c, &exact) == nil {
			for k, v := range exact {
				k = strings.ToLower(k)
				covered[k] = true
				if value(k) != v {
					return 0, 0, denied("AccessDenied", "policy condition failed: %s must be %q, got %q", k, v, value(k))
				}
			}
			continue
		}
		var arr []json.RawMessage
		if err := json.Unmarshal(c, &arr); err != nil || len(arr) != 3 {
			return 0, 0, badRequest("InvalidPolicyDocument", "condition %s", c)
		}
		var op string
		if err := json.Unmarshal(arr[0], &op); err != nil {
			return 0, 0, badRequest("InvalidPolicyDocument", "condition %s", c)
		}
		switch strings.ToLower(op) {
		case "content-length-range":
			if json.Unmarshal(arr[1], &lo) != nil || json.Unmarshal(arr[2], &hi) != nil || lo < 0 || hi < lo {
				return 0, 0, badRequest("InvalidPolicyDocument", "condition %s", c)
			}
		case "eq", "starts-with":
			var name, want string
			if json.Unmarshal(arr[1], &name) != nil || json.Unmarshal(arr[2], &want) != nil || !strings.HasPrefix(name, "$") {
				return 0, 0, badRequest("InvalidPolicyDocument", "condition %s", c)
			}
			name = strings.ToLower(name[1:])
			covered[name] = true
			got := value(name)
			if (op == "eq" && got != want) || (op != "eq" && !strings.HasPrefix(got, want)) {
				return 0, 0, denied("AccessDenied", "policy condition failed: %s %s %q, got %q", name, op, want, got)
			}
		default:
			return 0, 0, badRequest("InvalidPolicyDocument", "unknown condition %q", op)
		}
	}
	for name := range fields {
		switch {
		case name == "policy", name == "x-goog-signature", strings.HasPrefix(name, "x-ignore-"):
		case !covered[name]:
			return 0, 0, denied("AccessDenied", "form field %s is not covered by the policy", name)
		}
	}
	return lo, hi, nil
}

// xmlEscape writes s with XML's special characters escaped.
func xmlEscape(w io.Writer, s string) error {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "'", "&apos;", `"`, "&quot;")
	_, err := r.WriteString(w, s)
	return err
}
