package local

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"hash"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/presignd/presignd/signer"
)

// version is the first line of every canonical string. Changing the
// canonical form means changing this tag, so old URLs stop verifying instead
// of being read under new rules.
const version = "presignd-local-v1"

// Names of the query parameters (PUT, GET) and form fields (POST) that carry
// the bound values. POST form field names are matched case-insensitively.
const (
	paramMethod                     = "method"
	paramExpires                    = "expires"
	paramContentType                = "content-type"
	paramMaxSize                    = "max-size"
	paramChecksumAlgorithm          = "checksum-algorithm"
	paramChecksum                   = "checksum"
	paramContentDisposition         = "content-disposition"
	paramResponseContentType        = "response-content-type"
	paramResponseContentDisposition = "response-content-disposition"
	paramSignature                  = "signature"
	// fieldKey is the POST form field naming the object key; PUT and GET
	// take the key from the URL path instead.
	fieldKey = "key"
	// fieldFile is the POST form part holding the object's bytes.
	fieldFile = "file"
)

// Request headers a PUT client sends for a bound checksum.
const (
	HeaderChecksumSHA256 = "x-presignd-checksum-sha256"
	HeaderChecksumCRC32C = "x-presignd-checksum-crc32c"
	HeaderContentMD5     = "Content-MD5"
)

// checksumHeader returns the header a PUT client sends for algorithm.
func checksumHeader(algorithm string) string {
	switch algorithm {
	case signer.SHA256:
		return HeaderChecksumSHA256
	case signer.MD5:
		return HeaderContentMD5
	case signer.CRC32C:
		return HeaderChecksumCRC32C
	}
	return ""
}

// checksumSize is the digest length in bytes of algorithm, 0 if unknown.
func checksumSize(algorithm string) int {
	switch algorithm {
	case signer.SHA256:
		return sha256.Size
	case signer.MD5:
		return 16
	case signer.CRC32C:
		return 4
	}
	return 0
}

// grant is the set of values a signature binds. The zero value of a field
// means "not bound".
type grant struct {
	method                     string // PUT, POST or GET
	key                        string
	expires                    int64 // unix seconds; valid while now < expires
	contentType                string
	maxSize                    int64 // 0: no limit
	checksumAlgorithm          string
	checksum                   string // base64, standard, padded
	contentDisposition         string
	responseContentType        string
	responseContentDisposition string
}

// canonical appends the string the signature is computed over. Every field
// is length-prefixed, in a fixed order, so two different grants never share
// a canonical string, whatever bytes their values hold.
func (g *grant) canonical(b []byte) []byte {
	b = append(b, version...)
	b = append(b, '\n')
	field := func(v string) {
		b = strconv.AppendInt(b, int64(len(v)), 10)
		b = append(b, ':')
		b = append(b, v...)
		b = append(b, '\n')
	}
	field(g.method)
	field(g.key)
	b = strconv.AppendInt(b, g.expires, 10)
	b = append(b, '\n')
	field(g.contentType)
	b = strconv.AppendInt(b, g.maxSize, 10)
	b = append(b, '\n')
	field(g.checksumAlgorithm)
	field(g.checksum)
	field(g.contentDisposition)
	field(g.responseContentType)
	field(g.responseContentDisposition)
	return b
}

// macState is a keyed HMAC and a scratch buffer, pooled per Signer.
type macState struct {
	h   hash.Hash
	buf []byte
}

// mac appends the HMAC-SHA256 of g's canonical string under the signer's
// secret to dst.
func (s *Signer) mac(dst []byte, g *grant) []byte {
	m := s.macs.Get().(*macState)
	m.h.Reset()
	m.buf = g.canonical(m.buf[:0])
	m.h.Write(m.buf)
	dst = m.h.Sum(dst)
	s.macs.Put(m)
	return dst
}

// signatureLen is the length of an encoded signature.
var signatureLen = base64.RawURLEncoding.EncodedLen(sha256.Size)

// appendSignature appends g's signature, as it appears in a URL or form
// field, to dst.
func (s *Signer) appendSignature(dst []byte, g *grant) []byte {
	var sum [sha256.Size]byte
	return base64.RawURLEncoding.AppendEncode(dst, s.mac(sum[:0], g))
}

// sign returns g's signature as it appears in a URL or form field.
func (s *Signer) sign(g *grant) string {
	var buf [64]byte
	return string(s.appendSignature(buf[:0], g))
}

// params returns the bound values of g as name/value pairs, in a fixed
// order, omitting unbound ones and the key.
func (g *grant) params() [][2]string {
	p := make([][2]string, 0, 9)
	add := func(name, v string) {
		if v != "" {
			p = append(p, [2]string{name, v})
		}
	}
	if g.method != http.MethodPost {
		add(paramMethod, g.method)
	}
	add(paramExpires, strconv.FormatInt(g.expires, 10))
	add(paramContentType, g.contentType)
	if g.maxSize > 0 {
		add(paramMaxSize, strconv.FormatInt(g.maxSize, 10))
	}
	add(paramChecksumAlgorithm, g.checksumAlgorithm)
	add(paramChecksum, g.checksum)
	add(paramContentDisposition, g.contentDisposition)
	add(paramResponseContentType, g.responseContentType)
	add(paramResponseContentDisposition, g.responseContentDisposition)
	return p
}

// signedURL returns the URL for a PUT or GET grant.
func (s *Signer) signedURL(g *grant) string {
	var b strings.Builder
	b.Grow(len(s.baseURL) + len(s.prefix) + len(g.key)*3/2 + 320)
	b.WriteString(s.baseURL)
	b.WriteString(s.prefix)
	writeEscapedKey(&b, g.key)
	b.WriteByte('?')
	for _, p := range g.params() {
		b.WriteString(p[0])
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(p[1]))
		b.WriteByte('&')
	}
	b.WriteString(paramSignature)
	b.WriteByte('=')
	var sig [64]byte
	b.Write(s.appendSignature(sig[:0], g))
	return b.String()
}

// writeEscapedKey writes key to b with each "/"-separated segment
// path-escaped.
func writeEscapedKey(b *strings.Builder, key string) {
	for {
		seg, rest, more := strings.Cut(key, "/")
		b.WriteString(url.PathEscape(seg))
		if !more {
			return
		}
		b.WriteByte('/')
		key = rest
	}
}

// authError is a refusal the handler reports with status and a short,
// fixed message. Messages never contain the signature or the URL.
type authError struct {
	status int
	msg    string
}

func (e *authError) Error() string { return e.msg }

func refuse(status int, msg string) error { return &authError{status: status, msg: msg} }

var (
	errMalformed = refuse(http.StatusForbidden, "malformed signed request")
	errSignature = refuse(http.StatusForbidden, "signature does not match")
	errExpired   = refuse(http.StatusForbidden, "signed request has expired")
	errMethod    = refuse(http.StatusForbidden, "method not allowed by this signature")
	errBadKey    = refuse(http.StatusBadRequest, "invalid object key")
)

// lookup returns the single value of name in values, and an error if the
// name is repeated. get is a case-sensitive (query) or already-folded
// (form) lookup.
func single(values []string) (string, error) {
	switch len(values) {
	case 0:
		return "", nil
	case 1:
		return values[0], nil
	}
	return "", errMalformed
}

// grantFrom reads the bound values from get (query parameters or form
// fields), for the given key and signed method, and returns them with the
// presented signature. It checks form only: the values must be what a
// Signer would have written (canonical integers, known algorithm), so that
// one grant has one spelling.
func grantFrom(get func(string) []string, method, key string) (*grant, string, error) {
	g := &grant{method: method, key: key}
	var vals [10]string
	names := [...]string{
		paramExpires, paramContentType, paramMaxSize, paramChecksumAlgorithm, paramChecksum,
		paramContentDisposition, paramResponseContentType, paramResponseContentDisposition,
		paramSignature,
	}
	for i, name := range names {
		v, err := single(get(name))
		if err != nil {
			return nil, "", err
		}
		vals[i] = v
	}
	expires, maxSize := vals[0], vals[2]
	g.contentType = vals[1]
	g.checksumAlgorithm, g.checksum = vals[3], vals[4]
	g.contentDisposition = vals[5]
	g.responseContentType, g.responseContentDisposition = vals[6], vals[7]
	sig := vals[8]

	var ok bool
	if g.expires, ok = parseCanonicalInt(expires); !ok {
		return nil, "", errMalformed
	}
	if maxSize != "" {
		if g.maxSize, ok = parseCanonicalInt(maxSize); !ok || g.maxSize <= 0 {
			return nil, "", errMalformed
		}
	}
	if (g.checksumAlgorithm == "") != (g.checksum == "") {
		return nil, "", errMalformed
	}
	if g.checksumAlgorithm != "" && checksumSize(g.checksumAlgorithm) == 0 {
		return nil, "", errMalformed
	}
	if sig == "" {
		return nil, "", errSignature
	}
	return g, sig, nil
}

// parseCanonicalInt parses a decimal integer written the way
// strconv.FormatInt writes it.
func parseCanonicalInt(s string) (int64, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || strconv.FormatInt(n, 10) != s {
		return 0, false
	}
	return n, true
}

// verify checks sig against g, then g's expiry. It runs in constant time
// with respect to the signature bytes.
func (s *Signer) verify(g *grant, sig string) error {
	if len(sig) != signatureLen {
		return errSignature
	}
	got, err := base64.RawURLEncoding.Strict().DecodeString(sig)
	if err != nil || len(got) != sha256.Size {
		return errSignature
	}
	var want [sha256.Size]byte
	if !hmac.Equal(got, s.mac(want[:0], g)) {
		return errSignature
	}
	if !s.now().Before(time.Unix(g.expires, 0)) {
		return errExpired
	}
	return nil
}

// authorizeQuery verifies a PUT or GET request: method, path (as decoded by
// net/http, still carrying the handler's prefix) and raw query. It returns
// the verified grant, or an *authError.
//
// A HEAD request is allowed on a URL signed for GET.
func (s *Signer) authorizeQuery(method, path, rawQuery string) (*grant, error) {
	key, ok := strings.CutPrefix(path, s.prefix)
	if !ok {
		return nil, refuse(http.StatusNotFound, "not found")
	}
	if signer.ValidateKey(key) != nil {
		return nil, errBadKey
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, errMalformed
	}
	signedMethod, err := single(q[paramMethod])
	if err != nil {
		return nil, err
	}
	switch signedMethod {
	case http.MethodPut, http.MethodGet:
	default:
		// POST grants travel in a form, never in a query.
		return nil, errMalformed
	}
	g, sig, err := grantFrom(func(name string) []string { return q[name] }, signedMethod, key)
	if err != nil {
		return nil, err
	}
	if err := s.verify(g, sig); err != nil {
		return nil, err
	}
	if method != signedMethod && !(method == http.MethodHead && signedMethod == http.MethodGet) {
		return nil, errMethod
	}
	return g, nil
}

// authorizeForm verifies the fields of a POST form (names already folded
// to lower case) that preceded the file part.
func (s *Signer) authorizeForm(fields map[string][]string) (*grant, error) {
	key, err := single(fields[fieldKey])
	if err != nil {
		return nil, err
	}
	if signer.ValidateKey(key) != nil {
		return nil, errBadKey
	}
	if _, ok := fields[paramMethod]; ok {
		return nil, errMalformed
	}
	g, sig, err := grantFrom(func(name string) []string { return fields[name] }, http.MethodPost, key)
	if err != nil {
		return nil, err
	}
	if err := s.verify(g, sig); err != nil {
		return nil, err
	}
	return g, nil
}

// errorsAsAuth returns err as an *authError if it is one.
func errorsAsAuth(err error) (*authError, bool) {
	var ae *authError
	ok := errors.As(err, &ae)
	return ae, ok
}
