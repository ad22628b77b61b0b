package gcs_test

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
	"maps"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"
	"unicode"

	"cloud.google.com/go/storage"
	"google.golang.org/api/option"

	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/signer/gcs"
	"github.com/presignd/presignd/signer/gcs/gcstest"
)

// This file proves the hand-written V4 signing against
// cloud.google.com/go/storage: sdkSigner makes each target from the
// library's SignedURL and GenerateSignedPostPolicyV4, and the tests compare
// it with the Signer's on thousands of random requests, byte for byte.

// sdkSigner signs with cloud.google.com/go/storage: BucketHandle.SignedURL
// and GenerateSignedPostPolicyV4 with the key parsed once (SignBytes /
// SignRawBytes), X-Goog-Expires rounded up by passing expiry + 1s - 1ns,
// and the library's URL tidied into the documented form. The library reads
// its clock itself, so it signs at time.Now.
type sdkSigner struct {
	client   *storage.Client
	handle   *storage.BucketHandle
	accessID string
	key      *rsa.PrivateKey
	style    storage.URLStyle
	insecure bool
}

// newSDKSigner configures the library from what a gcs.Config holds: the
// credentials JSON, the Endpoint with /storage/v1/ appended when it has no
// path, and STORAGE_EMULATOR_HOST, which the library reads itself.
func newSDKSigner(tb testing.TB, bucket, endpoint string, virtualHost bool, credJSON []byte) *sdkSigner {
	tb.Helper()
	var creds struct {
		PrivateKey  string `json:"private_key"`
		ClientEmail string `json:"client_email"`
	}
	if err := json.Unmarshal(credJSON, &creds); err != nil {
		tb.Fatal(err)
	}
	block, _ := pem.Decode([]byte(creds.PrivateKey))
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		tb.Fatal(err)
	}
	s := &sdkSigner{accessID: creds.ClientEmail, key: k.(*rsa.PrivateKey), style: storage.PathStyle()}
	if virtualHost {
		s.style = storage.VirtualHostedStyle()
	}
	opts := []option.ClientOption{option.WithAuthCredentialsJSON(option.ServiceAccount, credJSON)}
	if endpoint != "" {
		u, err := url.Parse(endpoint)
		if err != nil {
			tb.Fatal(err)
		}
		ep := endpoint
		if u.Path == "" || u.Path == "/" {
			ep = strings.TrimSuffix(ep, "/") + "/storage/v1/"
		}
		opts = append(opts, option.WithEndpoint(ep))
		s.insecure = u.Scheme == "http"
	} else if host := os.Getenv("STORAGE_EMULATOR_HOST"); host != "" {
		s.insecure = !strings.Contains(host, "://") || strings.HasPrefix(host, "http://")
	}
	s.client, err = storage.NewClient(context.Background(), opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.client.Close() })
	s.handle = s.client.Bucket(bucket)
	return s
}

func (s *sdkSigner) signBytes(b []byte) ([]byte, error) {
	sum := sha256.Sum256(b)
	return rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, sum[:])
}

func (s *sdkSigner) urlOptions(method string, expires time.Time) *storage.SignedURLOptions {
	return &storage.SignedURLOptions{
		GoogleAccessID: s.accessID,
		SignBytes:      s.signBytes,
		Method:         method,
		Expires:        expires.Add(time.Second - time.Nanosecond),
		Scheme:         storage.SigningSchemeV4,
		Style:          s.style,
		Insecure:       s.insecure,
	}
}

// signUpload is the library's PUT target for req. A Content-Type that
// begins with white space is given to the library trimmed: the library
// signs it untrimmed (GCS trims it, so that URL is refused), and the
// Signer signs it as GCS reads it.
func (s *sdkSigner) signUpload(req signer.UploadRequest) (signer.UploadTarget, error) {
	headers := make(map[string]string, 4)
	opts := s.urlOptions(http.MethodPut, req.Expires)
	if req.ContentType != "" {
		opts.ContentType = req.ContentType
		if strings.TrimSpace(req.ContentType) != "" {
			opts.ContentType = strings.TrimLeftFunc(req.ContentType, unicode.IsSpace)
		}
		headers["Content-Type"] = req.ContentType
	}
	if req.ContentDisposition != "" {
		opts.Headers = append(opts.Headers, "content-disposition:"+req.ContentDisposition)
		headers["Content-Disposition"] = req.ContentDisposition
	}
	if !req.Checksum.IsZero() {
		raw, _ := base64.StdEncoding.DecodeString(req.Checksum.Value)
		v := base64.StdEncoding.EncodeToString(raw)
		if req.Checksum.Algorithm == signer.MD5 {
			opts.MD5 = v
			headers["Content-MD5"] = v
		} else {
			opts.Headers = append(opts.Headers, "x-goog-hash:crc32c="+v)
			headers["x-goog-hash"] = "crc32c=" + v
		}
	}
	u, err := s.handle.SignedURL(req.Key, opts)
	if err != nil {
		return signer.UploadTarget{}, err
	}
	u, exp, err := tidyURL(u)
	if err != nil {
		return signer.UploadTarget{}, err
	}
	return signer.UploadTarget{Method: http.MethodPut, URL: u, Headers: headers, Expires: exp}, nil
}

// signDownload is the library's GET URL for req.
func (s *sdkSigner) signDownload(req signer.DownloadRequest) (string, error) {
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
		return "", err
	}
	u, _, err = tidyURL(u)
	return u, err
}

// signPost is the library's POST policy target for req.
func (s *sdkSigner) signPost(req signer.UploadRequest) (signer.UploadTarget, error) {
	exp := req.Expires.UTC().Truncate(time.Second)
	opts := &storage.PostPolicyV4Options{
		GoogleAccessID: s.accessID,
		SignRawBytes:   s.signBytes,
		Expires:        exp,
		Style:          s.style,
		Insecure:       s.insecure,
		Fields: &storage.PolicyV4Fields{
			ContentType:        req.ContentType,
			ContentDisposition: req.ContentDisposition,
		},
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
		return signer.UploadTarget{}, err
	}
	return signer.UploadTarget{Method: http.MethodPost, URL: p.URL, FormFields: p.Fields, Expires: exp}, nil
}

// tidyURL puts a signed URL from the library into the documented form:
// spaces in the query as %20 (the library signs %20 but emits "+"; a
// literal "+" is already %2B) and X-Goog-Signature last rather than in
// sorted place. It also returns X-Goog-Date plus X-Goog-Expires.
func tidyURL(signed string) (string, time.Time, error) {
	base, query, ok := strings.Cut(signed, "?")
	if !ok {
		return "", time.Time{}, errors.New("signed URL has no query")
	}
	var b strings.Builder
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
		b.WriteString(strings.ReplaceAll(p, "+", "%20"))
	}
	if sig == "" {
		return "", time.Time{}, errors.New("signed URL has no X-Goog-Signature")
	}
	b.WriteByte('&')
	b.WriteString(sig)
	t, err := time.Parse("20060102T150405Z", date)
	if err != nil {
		return "", time.Time{}, err
	}
	secs, err := strconv.Atoi(expires)
	if err != nil {
		return "", time.Time{}, err
	}
	return b.String(), t.Add(time.Duration(secs) * time.Second), nil
}

// serviceAccountJSON is a "service_account" credentials file for gcstest's
// key, as client_email.
func serviceAccountJSON(tb testing.TB, clientEmail string) []byte {
	tb.Helper()
	key, err := gcstest.Key()
	if err != nil {
		tb.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	b, err := json.Marshal(map[string]string{
		"type":         "service_account",
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": clientEmail,
		"token_uri":    "http://127.0.0.1:1/token",
	})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// pair is a Signer and the library configured alike.
type pair struct {
	name string
	hand *gcs.Signer
	sdk  *sdkSigner
}

// pairs configures both signers for every host setting presignd has (the
// default host, Endpoint in its forms, STORAGE_EMULATOR_HOST in its forms,
// Endpoint over STORAGE_EMULATOR_HOST), each in path and virtual-host
// style, with assorted bucket names.
func pairs(t *testing.T, credJSON []byte) []pair {
	hosts := []struct{ name, endpoint, emulator string }{
		{"the default host", "", ""},
		{"an http endpoint", "http://127.0.0.1:4443", ""},
		{"an https endpoint with a port", "https://gcs.example.com:8443", ""},
		{"an endpoint with a path", "https://gcs.example.com/custom/storage/v1/", ""},
		{"an IPv6 endpoint", "http://[::1]:4443", ""},
		{"an emulator host without scheme", "", "localhost:9023"},
		{"an emulator host over http", "", "http://127.0.0.1:8080"},
		{"an emulator host over https", "", "https://emulator.example.com"},
		{"an endpoint over an emulator host", "http://10.0.0.1:4443", "localhost:9023"},
	}
	buckets := []string{"presignd-test", "my.bucket.example.com", "b_1-x", "abc"}
	var ps []pair
	for _, h := range hosts {
		for _, vh := range []bool{false, true} {
			bucket := buckets[len(ps)%len(buckets)]
			os.Setenv("STORAGE_EMULATOR_HOST", h.emulator)
			hand, err := gcs.New(context.Background(), gcs.Config{
				Bucket: bucket, CredentialsJSON: credJSON, Endpoint: h.endpoint, VirtualHostStyle: vh,
			})
			if err != nil {
				t.Fatalf("%s: %v", h.name, err)
			}
			t.Cleanup(func() { hand.Close() })
			sdk := newSDKSigner(t, bucket, h.endpoint, vh, credJSON)
			style := "path style"
			if vh {
				style = "virtual-host style"
			}
			ps = append(ps, pair{name: fmt.Sprintf("%s, %s, bucket %s", h.name, style, bucket), hand: hand, sdk: sdk})
		}
	}
	os.Setenv("STORAGE_EMULATOR_HOST", "")
	return ps
}

// gen makes random requests.
type gen struct{ r *mrand.Rand }

// Pieces of object names: characters that V4 escapes and some it does not,
// multi-byte UTF-8, Unicode white space, and things that look escaped.
var keyPieces = []string{
	"a", "Z", "0", "9", "-", "_", ".", "~", " ", "  ", "+", "%", "?", "#", "&", "=", ":", "@", "!", "$",
	"'", "(", ")", "*", ",", ";", "[", "]", "{", "}", "<", ">", "|", "^", "`", "\"",
	"é", "日本", "🙂", "\u00a0", "\u2028", "\u3000", "%20", "%2F", "%zz", "...", "form", "release.pdf",
}

func (g gen) pick(from []string) string { return from[g.r.IntN(len(from))] }

func (g gen) key() string {
	for {
		segs := make([]string, 1+g.r.IntN(4))
		for i := range segs {
			var b strings.Builder
			for range 1 + g.r.IntN(8) {
				b.WriteString(g.pick(keyPieces))
			}
			segs[i] = b.String()
		}
		if k := strings.Join(segs, "/"); signer.ValidateKey(k) == nil {
			return k
		}
	}
}

// text is a random header value: no control characters but tab, with
// leading, trailing and repeated white space of all kinds, and at times
// bytes that are not UTF-8.
func (g gen) text() string {
	pieces := []string{"a", "text/plain", ";", " ", "  ", "\t", "\u00a0", "\u3000", "=", "\"", "é", "日本", "\xff", "/", "x", "<", ">", "&", "\u2028"}
	var b strings.Builder
	for range g.r.IntN(10) {
		b.WriteString(g.pick(pieces))
	}
	return b.String()
}

func (g gen) contentType() string {
	return g.pick([]string{
		"", "", "application/pdf", "text/plain; charset=utf-8", "image/png", "application/octet-stream",
		" text/plain", "\ttext/plain", "\u00a0text/plain", "text/plain ", "multipart/form-data;  boundary=x",
		"a\tb", "日本/語", "   ", "\xff\xfe", g.text(), g.text(),
	})
}

func (g gen) disposition() string {
	return g.pick([]string{
		"", "", "inline", `attachment; filename="a b.pdf"`, `attachment;  filename="x"`, "   ", " attachment",
		"attachment\t", `attachment; filename*=UTF-8''%E2%82%AC%20rates.pdf`, `attachment; filename="日本.pdf"`, g.text(), g.text(),
	})
}

// query is a random query parameter value: anything, control characters
// and bytes that are not UTF-8 included.
func (g gen) query() string {
	if g.r.IntN(3) == 0 {
		return ""
	}
	pieces := append([]string{"\n", "\x00", "\xff", "\r\n", "%", "+", "&", "=", "#"}, keyPieces...)
	var b strings.Builder
	for range 1 + g.r.IntN(10) {
		b.WriteString(g.pick(pieces))
	}
	return b.String()
}

func (g gen) checksum() signer.Checksum {
	switch g.r.IntN(3) {
	case 0:
		return signer.Checksum{}
	case 1:
		b := make([]byte, 16)
		for i := range b {
			b[i] = byte(g.r.Uint32())
		}
		return signer.Checksum{Algorithm: signer.MD5, Value: base64.StdEncoding.EncodeToString(b)}
	default:
		b := make([]byte, 4)
		for i := range b {
			b[i] = byte(g.r.Uint32())
		}
		return signer.Checksum{Algorithm: signer.CRC32C, Value: base64.StdEncoding.EncodeToString(b)}
	}
}

// lifetime is a random time to expiry within MaxExpiry: whole seconds,
// nanoseconds either side of them, and the bounds.
func (g gen) lifetime() time.Duration {
	switch g.r.IntN(6) {
	case 0:
		return time.Duration(1+g.r.Int64N(604800)) * time.Second
	case 1:
		return time.Duration(1+g.r.Int64N(604800))*time.Second - time.Nanosecond
	case 2:
		return time.Duration(g.r.Int64N(604800))*time.Second + time.Nanosecond
	case 3:
		return gcs.MaxExpiry
	case 4:
		return 1 + time.Duration(g.r.Int64N(int64(time.Second)))
	default:
		return 1 + time.Duration(g.r.Int64N(int64(gcs.MaxExpiry)))
	}
}

// tick moves the bubble's clock: nanoseconds to days, so signing instants
// fall anywhere in a second and across day boundaries.
func (g gen) tick() {
	switch g.r.IntN(3) {
	case 0:
		time.Sleep(time.Duration(g.r.Int64N(int64(time.Second))))
	case 1:
		time.Sleep(time.Duration(g.r.Int64N(int64(48 * time.Hour))))
	default:
		time.Sleep(time.Duration(g.r.Int64N(3600)) * time.Second)
	}
}

// casesPerMethod is how many random requests each method is compared on.
const casesPerMethod = 1500

// compare runs n random cases in a synctest bubble, whose clock both the
// library (time.Now) and the Signer (Config.Now unset: time.Now) read.
func compare(t *testing.T, seed uint64, run func(t *testing.T, g gen, p pair) (ok bool)) {
	t.Setenv("STORAGE_EMULATOR_HOST", "")
	ps := pairs(t, serviceAccountJSON(t, "presignd-sdk@presignd-test.iam.gserviceaccount.com"))
	synctest.Test(t, func(t *testing.T) {
		g := gen{mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
		failures := 0
		for range casesPerMethod {
			g.tick()
			if !run(t, g, ps[g.r.IntN(len(ps))]) {
				if failures++; failures == 5 {
					t.Fatal("stopping after 5 differences")
				}
			}
		}
	})
}

func TestSignUploadMatchesSDK(t *testing.T) {
	normalized := 0
	compare(t, 1, func(t *testing.T, g gen, p pair) bool {
		req := signer.UploadRequest{
			Key: g.key(), ContentType: g.contentType(), ContentDisposition: g.disposition(),
			Checksum: g.checksum(), Expires: time.Now().Add(g.lifetime()),
		}
		if strings.TrimLeftFunc(req.ContentType, unicode.IsSpace) != req.ContentType && strings.TrimSpace(req.ContentType) != "" {
			normalized++
		}
		got, err := p.hand.SignUpload(t.Context(), req)
		if err != nil {
			t.Errorf("%s: SignUpload(%+v): %v", p.name, req, err)
			return false
		}
		want, err := p.sdk.signUpload(req)
		if err != nil {
			t.Errorf("%s: library, %+v: %v", p.name, req, err)
			return false
		}
		if got.URL != want.URL || !maps.Equal(got.Headers, want.Headers) || !got.Expires.Equal(want.Expires) || got.Method != want.Method {
			t.Errorf("%s: at %s, %+v:\n got %s %s %v %s\nwant %s %s %v %s", p.name, time.Now().UTC().Format(time.RFC3339Nano), req,
				got.Method, got.URL, got.Headers, got.Expires, want.Method, want.URL, want.Headers, want.Expires)
			return false
		}
		return true
	})
	t.Logf("%d PUT targets identical; %d had a Content-Type with leading white space, given to the library trimmed", casesPerMethod, normalized)
}

func TestSignDownloadMatchesSDK(t *testing.T) {
	compare(t, 2, func(t *testing.T, g gen, p pair) bool {
		req := signer.DownloadRequest{
			Key: g.key(), ResponseContentDisposition: g.query(), ResponseContentType: g.query(),
			Expires: time.Now().Add(g.lifetime()),
		}
		got, err := p.hand.SignDownload(t.Context(), req)
		if err != nil {
			t.Errorf("%s: SignDownload(%+v): %v", p.name, req, err)
			return false
		}
		want, err := p.sdk.signDownload(req)
		if err != nil {
			t.Errorf("%s: library, %+v: %v", p.name, req, err)
			return false
		}
		if got != want {
			t.Errorf("%s: at %s, %+v:\n got %s\nwant %s", p.name, time.Now().UTC().Format(time.RFC3339Nano), req, got, want)
			return false
		}
		return true
	})
	t.Logf("%d GET URLs identical", casesPerMethod)
}

func TestSignPostUploadMatchesSDK(t *testing.T) {
	compare(t, 3, func(t *testing.T, g gen, p pair) bool {
		req := signer.UploadRequest{
			Key: g.key(), ContentType: g.contentType(), ContentDisposition: g.disposition(),
			Expires: time.Now().Add(time.Duration(1 + g.r.Int64N(int64(60*24*time.Hour)))),
		}
		switch g.r.IntN(4) {
		case 0:
			req.MaxSize = 1 + g.r.Int64N(10<<20)
		case 1:
			req.MaxSize = 1 + g.r.Int64N(1<<62)
			req.Size = g.r.Int64N(req.MaxSize)
		case 2:
			req.MaxSize, req.Size = -g.r.Int64N(10), g.r.Int64N(10)
		}
		if !req.Expires.UTC().Truncate(time.Second).After(time.Now()) {
			req.Expires = req.Expires.Add(time.Second)
		}
		got, err := p.hand.SignPostUpload(t.Context(), req)
		if err != nil {
			t.Errorf("%s: SignPostUpload(%+v): %v", p.name, req, err)
			return false
		}
		want, err := p.sdk.signPost(req)
		if err != nil {
			t.Errorf("%s: library, %+v: %v", p.name, req, err)
			return false
		}
		if got.URL != want.URL || !maps.Equal(got.FormFields, want.FormFields) || !got.Expires.Equal(want.Expires) || got.Method != want.Method {
			t.Errorf("%s: at %s, %+v:\n got %s %s %v %s\nwant %s %s %v %s", p.name, time.Now().UTC().Format(time.RFC3339Nano), req,
				got.Method, got.URL, got.FormFields, got.Expires, want.Method, want.URL, want.FormFields, want.Expires)
			return false
		}
		return true
	})
	t.Logf("%d POST policies identical", casesPerMethod)
}

// signPart is the library's PUT target for a part: the part number and
// upload id as signed query parameters, the size range and CRC32C as
// signed headers.
func (s *sdkSigner) signPart(req signer.PartRequest) (signer.UploadTarget, error) {
	opts := s.urlOptions(http.MethodPut, req.Expires)
	n := strconv.FormatInt(req.Size, 10)
	headers := map[string]string{"x-goog-content-length-range": n + "," + n}
	opts.Headers = append(opts.Headers, "x-goog-content-length-range:"+n+","+n)
	if !req.Checksum.IsZero() {
		headers["x-goog-hash"] = "crc32c=" + req.Checksum.Value
		opts.Headers = append(opts.Headers, "x-goog-hash:crc32c="+req.Checksum.Value)
	}
	opts.QueryParameters = url.Values{"partNumber": {strconv.Itoa(req.PartNumber)}, "uploadId": {req.UploadID}}
	u, err := s.handle.SignedURL(req.Key, opts)
	if err != nil {
		return signer.UploadTarget{}, err
	}
	u, exp, err := tidyURL(u)
	if err != nil {
		return signer.UploadTarget{}, err
	}
	return signer.UploadTarget{Method: http.MethodPut, URL: u, Headers: headers, Expires: exp}, nil
}

// uploadID is a random upload id of GCS's alphabet, sometimes with the
// characters a query must escape that an id may still hold.
func (g gen) uploadID() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_~.+/=%"
	b := make([]byte, 1+g.r.IntN(200))
	for i := range b {
		b[i] = alphabet[g.r.IntN(len(alphabet))]
	}
	return string(b)
}

func TestSignPartMatchesSDK(t *testing.T) {
	compare(t, 4, func(t *testing.T, g gen, p pair) bool {
		req := signer.PartRequest{
			Key: g.key(), UploadID: g.uploadID(), PartNumber: 1 + g.r.IntN(10000),
			Size: g.r.Int64N(5<<30 + 1), Expires: time.Now().Add(g.lifetime()),
		}
		if g.r.IntN(2) == 0 {
			var sum [4]byte
			binary.BigEndian.PutUint32(sum[:], g.r.Uint32())
			req.Checksum = signer.Checksum{Algorithm: signer.CRC32C, Value: base64.StdEncoding.EncodeToString(sum[:])}
		}
		got, err := p.hand.SignPart(t.Context(), req)
		if err != nil {
			t.Errorf("%s: SignPart(%+v): %v", p.name, req, err)
			return false
		}
		want, err := p.sdk.signPart(req)
		if err != nil {
			t.Errorf("%s: library, %+v: %v", p.name, req, err)
			return false
		}
		if got.URL != want.URL || !maps.Equal(got.Headers, want.Headers) || !got.Expires.Equal(want.Expires) || got.Method != want.Method {
			t.Errorf("%s: at %s, %+v:\n got %s %s %v %s\nwant %s %s %v %s", p.name, time.Now().UTC().Format(time.RFC3339Nano), req,
				got.Method, got.URL, got.Headers, got.Expires, want.Method, want.URL, want.Headers, want.Expires)
			return false
		}
		return true
	})
	t.Logf("%d part targets identical", casesPerMethod)
}
