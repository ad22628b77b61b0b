package gcs

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The constant parts of V4 signing.
const (
	stampFormat = "20060102T150405Z"
	dayFormat   = "20060102"
)

// scheme is how a V4 signature is made: the algorithm named in the URL or
// policy and what follows the day in the credential scope.
type scheme struct {
	algorithm string // "GOOG4-RSA-SHA256" or "GOOG4-HMAC-SHA256"
	scope     string // "/<region>/storage/goog4_request"
}

// rsaScheme is a service account's RSA key (or signBlob); its region is
// always "auto".
var rsaScheme = &scheme{algorithm: "GOOG4-RSA-SHA256", scope: "/auto/storage/goog4_request"}

// hmacScheme is an HMAC key's scheme for region ("auto" or a bucket's
// location).
func hmacScheme(region string) *scheme {
	return &scheme{algorithm: "GOOG4-HMAC-SHA256", scope: "/" + region + "/storage/goog4_request"}
}

// or is sc, or rsaScheme when sc is nil.
func (sc *scheme) or() *scheme {
	if sc == nil {
		return rsaScheme
	}
	return sc
}

// endpoint is where signed requests go: the origin, the host value that is
// signed, and the escaped path that comes before an object name.
type endpoint struct {
	origin string // "https://storage.googleapis.com": scheme://host[:port]
	host   string // the signed host header: origin's host without the port
	prefix string // "/bucket/" (path style) or "/" (virtual-host style)
}

// newEndpoint is the endpoint for bucket on host (host[:port], no scheme).
// Virtual-host style puts the bucket in the host name; path style puts it
// first in the path.
func newEndpoint(scheme, host, bucket string, virtualHost bool) endpoint {
	if virtualHost {
		host = bucket + "." + host
	}
	u := url.URL{Scheme: scheme, Host: host}
	e := endpoint{origin: u.String(), host: u.Hostname(), prefix: "/"}
	if !virtualHost {
		e.prefix = "/" + escape(bucket, false) + "/"
	}
	return e
}

// header is a request header bound by a signed URL.
type header struct{ name, value string }

// param is a query parameter bound by a signed URL.
type param struct{ key, value string }

// urlRequest is what a V4 signed URL binds.
type urlRequest struct {
	method string
	// key is the object name; empty names the bucket itself (path
	// "/bucket" in path style, "/" in virtual-host style).
	key string
	// headers are the signed headers besides host, with distinct names
	// (any case). Values are signed as GCS reads them: trimmed, with each
	// run of white space as one space. An x-goog-content-sha256 header
	// becomes the payload hash instead of UNSIGNED-PAYLOAD.
	headers []header
	// query holds parameters signed besides the X-Goog-* ones.
	query   []param
	account string
	// now is the signing time, in UTC; lifetime is X-Goog-Expires.
	now      time.Time
	lifetime int64
	// scheme is the signature's; nil means rsaScheme.
	scheme *scheme
}

// stringToSign builds the canonical request of r and returns its
// string-to-sign and the signed URL without its signature: the caller
// appends "&X-Goog-Signature=" and the signature in hex.
func (e endpoint) stringToSign(r *urlRequest) (sts []byte, unsigned string) {
	c := e.build(r, nil)
	return c.sts(), e.origin + string(c.pathAndQuery())
}

// canonical is a request's signing parts, laid out in one buffer:
// [escaped path][query][string-to-sign].
type canonical struct {
	buf              []byte
	pathEnd, queryAt int // path is buf[:pathEnd], query buf[queryAt:queryEnd]
	queryEnd         int
	stsAt            int // the string-to-sign is buf[stsAt:]
}

// pathAndQuery is "<path>?<query>", the URL after the origin.
func (c *canonical) pathAndQuery() []byte { return c.buf[:c.queryEnd] }

// sts is the string-to-sign.
func (c *canonical) sts() []byte { return c.buf[c.stsAt:] }

// build lays out r's signing parts in buf (reused from its start): the
// path, "?", the canonical query, then the string-to-sign, computed from
// the canonical request, which is built after them and dropped.
func (e endpoint) build(r *urlRequest, buf []byte) canonical {
	sc := r.scheme.or()
	var hbuf [8]header
	hs := append(hbuf[:0], header{"host", e.host})
	payload := "UNSIGNED-PAYLOAD"
	for _, h := range r.headers {
		h = header{strings.ToLower(strings.TrimSpace(h.name)), canonicalValue(h.value)}
		if h.name == "x-goog-content-sha256" {
			payload = h.value
		}
		hs = append(hs, h)
	}
	slices.SortFunc(hs, func(a, b header) int { return strings.Compare(a.name, b.name) })

	var stampBuf [16]byte
	stamp := r.now.AppendFormat(stampBuf[:0], stampFormat)
	day := stamp[:8]

	// The path.
	buf = buf[:0]
	if r.key == "" && e.prefix != "/" {
		buf = append(buf, e.prefix[:len(e.prefix)-1]...)
	} else {
		buf = append(buf, e.prefix...)
		buf = appendEscape(buf, r.key, true)
	}
	c := canonical{pathEnd: len(buf)}
	buf = append(buf, '?')
	c.queryAt = len(buf)

	// The query: the X-Goog-* parameters (in sorted order already) merged
	// with r.query sorted by key (the values of a repeated key keep their
	// order).
	query := r.query
	if !slices.IsSortedFunc(query, func(a, b param) int { return strings.Compare(a.key, b.key) }) {
		query = slices.Clone(query)
		slices.SortStableFunc(query, func(a, b param) int { return strings.Compare(a.key, b.key) })
	}
	goog := [...]string{"X-Goog-Algorithm", "X-Goog-Credential", "X-Goog-Date", "X-Goog-Expires", "X-Goog-SignedHeaders"}
	first := true
	sep := func() {
		if !first {
			buf = append(buf, '&')
		}
		first = false
	}
	gi := 0
	for gi < len(goog) || len(query) > 0 {
		if gi < len(goog) && (len(query) == 0 || strings.Compare(goog[gi], query[0].key) <= 0) {
			sep()
			buf = append(buf, goog[gi]...)
			buf = append(buf, '=')
			switch gi {
			case 0:
				buf = appendEscape(buf, sc.algorithm, false)
			case 1:
				buf = appendEscape(buf, r.account, false)
				buf = append(buf, "%2F"...)
				buf = append(buf, day...)
				buf = appendEscape(buf, sc.scope, false)
			case 2:
				buf = append(buf, stamp...)
			case 3:
				buf = strconv.AppendInt(buf, r.lifetime, 10)
			case 4:
				for i, h := range hs {
					if i > 0 {
						buf = append(buf, "%3B"...)
					}
					buf = appendEscape(buf, h.name, false)
				}
			}
			gi++
			continue
		}
		sep()
		buf = appendEscape(buf, query[0].key, false)
		buf = append(buf, '=')
		buf = appendEscape(buf, query[0].value, false)
		query = query[1:]
	}
	c.queryEnd = len(buf)

	// The canonical request, hashed.
	at := len(buf)
	buf = append(buf, r.method...)
	buf = append(buf, '\n')
	buf = append(buf, buf[:c.pathEnd]...)
	buf = append(buf, '\n')
	buf = append(buf, buf[c.queryAt:c.queryEnd]...)
	buf = append(buf, '\n')
	for _, h := range hs {
		buf = append(buf, h.name...)
		buf = append(buf, ':')
		buf = append(buf, h.value...)
		buf = append(buf, '\n')
	}
	buf = append(buf, '\n')
	for i, h := range hs {
		if i > 0 {
			buf = append(buf, ';')
		}
		buf = append(buf, h.name...)
	}
	buf = append(buf, '\n')
	buf = append(buf, payload...)
	sum := sha256.Sum256(buf[at:])

	// The string-to-sign, over the canonical request.
	buf = buf[:at]
	c.stsAt = at
	buf = append(buf, sc.algorithm...)
	buf = append(buf, '\n')
	buf = append(buf, stamp...)
	buf = append(buf, '\n')
	buf = append(buf, day...)
	buf = append(buf, sc.scope...)
	buf = append(buf, '\n')
	buf = hex.AppendEncode(buf, sum[:])
	c.buf = buf
	return c
}

// postRequest is what a V4 POST policy binds.
type postRequest struct {
	bucket, key string
	// contentType and contentDisposition, when not empty, are form fields
	// the policy requires exactly.
	contentType, contentDisposition string
	// lengthRange, when set, is the content-length-range condition.
	lengthRange *[2]uint64
	account     string
	// now is the signing time and expires the policy's expiration, both
	// in UTC.
	now, expires time.Time
	// scheme is the signature's; nil means rsaScheme.
	scheme *scheme
}

// url is where a POST policy's form is sent.
func (e endpoint) postURL() string { return e.origin + e.prefix }

// policy returns r's policy document in base64 (what is signed) and the
// form fields that go with it, without the signature.
func (r *postRequest) policy() (string, map[string]string, error) {
	sc := r.scheme.or()
	stamp := r.now.Format(stampFormat)
	credential := r.account + "/" + r.now.Format(dayFormat) + sc.scope
	conds := make([]any, 0, 8)
	if r.lengthRange != nil {
		conds = append(conds, []any{"content-length-range", r.lengthRange[0], r.lengthRange[1]})
	}
	fields := make(map[string]string, 8)
	// Conditions in the order the conformance vectors state them; a field
	// with an empty value is neither a condition nor a form field.
	for _, f := range [...]param{
		{"content-disposition", r.contentDisposition},
		{"content-type", r.contentType},
		{"bucket", r.bucket},
		{"key", r.key},
		{"x-goog-date", stamp},
		{"x-goog-credential", credential},
		{"x-goog-algorithm", sc.algorithm},
	} {
		if f.value == "" {
			continue
		}
		conds = append(conds, map[string]string{f.key: f.value})
		if f.key != "bucket" {
			fields[f.key] = f.value
		}
	}
	doc, err := json.Marshal(struct {
		Conditions []any  `json:"conditions"`
		Expiration string `json:"expiration"`
	}{conds, r.expires.Format(time.RFC3339)})
	if err != nil {
		return "", nil, err
	}
	return base64.StdEncoding.EncodeToString(doc), fields, nil
}

// canonicalValue is a header value as GCS signs it: trimmed, each run of
// white space (as unicode.IsSpace has it) replaced by one space.
func canonicalValue(v string) string {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c >= utf8.RuneSelf || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r' ||
			(c == ' ' && (i == 0 || i == len(v)-1 || v[i+1] == ' ')) {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return v
}

// appendEscape appends escape(s, keepSlash) to b.
func appendEscape(b []byte, s string, keepSlash bool) []byte {
	const hexUpper = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) || (c == '/' && keepSlash) {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hexUpper[c>>4], hexUpper[c&15])
	}
	return b
}

// escape percent-encodes every byte of s but the unreserved characters
// (A-Z a-z 0-9 - . _ ~) and, when keepSlash is set, "/": the encoding V4
// signing uses for object names and query parameters alike.
func escape(s string, keepSlash bool) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i]) && (s[i] != '/' || !keepSlash) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	const hexUpper = "0123456789ABCDEF"
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) || (c == '/' && keepSlash) {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hexUpper[c>>4], hexUpper[c&15])
	}
	return string(b)
}

func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
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

// isBlank reports whether v is empty or all white space.
func isBlank(v string) bool { return strings.TrimFunc(v, unicode.IsSpace) == "" }
