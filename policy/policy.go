// Package policy holds the upload rules of presignd: categories, their limits
// and key templates. It is plain Go, free of gRPC and of any backend, so the
// rules can be tested on their own. Errors that concern a request field are
// FieldErrors, which the server reports as field violations.
package policy

import (
	"fmt"
	"mime"
	"path"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/presignd/presignd/internal/bytesize"
)

// DefaultCategory is the category a request that names none gets.
const DefaultCategory = "default"

// Upload methods.
const (
	MethodPut       = "PUT"
	MethodPost      = "POST"
	MethodMultipart = "MULTIPART"
)

// Size limits of the upload methods.
const (
	// MaxSingleUpload is the largest object one PUT or POST may carry;
	// a larger one needs MULTIPART.
	MaxSingleUpload int64 = 5 << 30
	// MaxObjectSize is the largest max_size a category may allow.
	MaxObjectSize int64 = 5 << 40
)

// Multipart defaults.
const (
	DefaultMultipartThreshold int64 = 100 << 20
	DefaultPartSize           int64 = 8 << 20
	DefaultMultipartUploadTTL       = 24 * time.Hour
)

// Multipart is a category's rules for multipart uploads.
type Multipart struct {
	// Threshold is the declared size at or above which a request that
	// names no method is a MULTIPART upload; 0 means never automatically.
	Threshold int64
	// PartSize is the preferred size of every part but the last; the
	// server raises it to the backend's minimum and to what keeps the
	// part count within the backend's maximum.
	PartSize int64
	// PartChecksum is the part checksum algorithm every multipart upload
	// must bind (SHA256 or CRC32C), or "" to leave it to the client.
	PartChecksum string
	// UploadTTL is how long a multipart upload may take to complete.
	UploadTTL time.Duration
}

// FieldError reports a request field that breaks a rule.
type FieldError struct {
	Field       string
	Description string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Description }

// FieldErrors is one or more field errors from a single request.
type FieldErrors []*FieldError

func (es FieldErrors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

// Category is the policy for one kind of upload.
type Category struct {
	Name string
	// Backend names the configured backend that stores the objects.
	Backend string
	// Key renders object keys.
	Key *KeyTemplate
	// ContentTypes lists the allowed types: exact ("application/pdf"), a
	// whole family ("image/*") or anything ("*/*"). Empty allows anything.
	ContentTypes []string
	// MaxSize is the largest allowed object in bytes.
	MaxSize int64
	// URLTTL is how long upload and download targets stay valid.
	URLTTL time.Duration
	// MaxDownloadTTL is the longest lifetime a download URL request may
	// ask for; 0 means URLTTL (see DownloadTTLLimit).
	MaxDownloadTTL time.Duration
	// Deduplicate answers an upload whose checksum and size match a
	// READY file of the same scope (tenant, category and owner scope)
	// with that file instead of a new upload.
	Deduplicate bool
	// BodylessTarget lets an upload target be asked for with no filename
	// and no size (the category fixes one type, and MaxSize is the
	// limit the target binds).
	BodylessTarget bool
	// Retention, when positive, is how long a READY file is kept after
	// its upload completed; the sweeper then deletes it.
	Retention time.Duration
	// Method is the default upload method, PUT or POST.
	Method string
	// RequireChecksum names the algorithm every upload must declare, or "".
	RequireChecksum string
	// ContentDisposition is "attachment", "inline" or "" (none).
	ContentDisposition string
	// Names are the display-name rules.
	Names NameRules
	// UniqueNames makes display names unique within the scope.
	UniqueNames bool
	// ScopeField, when set, is the owner field whose value scopes names and
	// the storage limit within the tenant (such as application_id); without
	// it the scope is the whole category of the tenant.
	ScopeField string
	// StorageLimit caps the bytes of live files in one scope; 0 means none.
	StorageLimit int64
	// OwnerFields are the rules for owner fields, by name.
	OwnerFields map[string]FieldRule
	// OwnerHeaders map owner fields to the request headers (REST) or gRPC
	// metadata keys that may carry them in CreateUpload, by field; header
	// names in canonical form (X-Business-Id). Only a credential with
	// the owner:headers scope may send them.
	OwnerHeaders map[string]string
	// Credentials lists the credential kinds that may use the category
	// ("api_key", "jwt"); empty allows all.
	Credentials []string
	// Multipart are the rules for multipart uploads.
	Multipart Multipart
	// CompleteOnUpload completes an upload as soon as its backend has
	// committed the bytes (the local backend), without CompleteUpload.
	CompleteOnUpload bool
	// AccessRules are the CEL rules every RPC on the category's files
	// must pass (CompileRules); none allows every caller the scopes allow.
	AccessRules []*Rule
	// Scan holds a verified upload SCANNING until a malware scan makes it
	// READY or QUARANTINED.
	Scan bool
	// SniffContent reads the first bytes of each completed object and
	// fails the upload when their detected type does not fit the declared
	// one and the allow-list (CheckContent).
	SniffContent bool
	// PublicBaseURL, when set, is the absolute http(s) URL the category's
	// objects are publicly readable under: a READY file's public URL is
	// this base followed by its escaped key (PublicURL).
	PublicBaseURL string
	// Thumbnails names the thumbnails made of the category's READY images;
	// empty when it makes none.
	Thumbnails []string
}

// DownloadTTLLimit is the longest lifetime a download URL of the category
// may be asked for: MaxDownloadTTL, or URLTTL when it is not set.
func (c *Category) DownloadTTLLimit() time.Duration {
	if c.MaxDownloadTTL > 0 {
		return c.MaxDownloadTTL
	}
	return c.URLTTL
}

// DefaultKeyTemplate is the key template of the built-in default category.
const DefaultKeyTemplate = "{tenant}/{category}/{uuid}{ext}"

// Default returns the built-in category used when no configuration names
// any: any content type, up to 5 GiB, 15-minute URLs, PUT, MULTIPART from
// 100 MiB in 8 MiB parts within 24 hours, stored on backend.
func Default(backend string) *Category {
	return &Category{
		Name:         DefaultCategory,
		Backend:      backend,
		Key:          MustParseKeyTemplate(DefaultKeyTemplate),
		ContentTypes: []string{"*/*"},
		MaxSize:      5 << 30,
		URLTTL:       15 * time.Minute,
		Method:       MethodPut,
		Multipart: Multipart{
			Threshold: DefaultMultipartThreshold,
			PartSize:  DefaultPartSize,
			UploadTTL: DefaultMultipartUploadTTL,
		},
	}
}

// AllowsContentType reports whether ct (parameters ignored, any case) is
// allowed by the category.
func (c *Category) AllowsContentType(ct string) bool {
	if len(c.ContentTypes) == 0 {
		return true
	}
	mediaType, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	for _, allowed := range c.ContentTypes {
		allowed = strings.ToLower(allowed)
		switch {
		case allowed == "*/*" || allowed == "*":
			return true
		case strings.HasSuffix(allowed, "/*"):
			if strings.HasPrefix(mediaType, strings.TrimSuffix(allowed, "*")) {
				return true
			}
		case allowed == mediaType:
			return true
		}
	}
	return false
}

// UploadRequest is the part of a CreateUpload request the policy checks.
type UploadRequest struct {
	Filename          string
	ContentType       string
	SizeBytes         int64
	ChecksumAlgorithm string
	Method            string // "" means the category's
	// PartChecksumAlgorithm is the part checksum a multipart upload asks
	// to bind, or "".
	PartChecksumAlgorithm string
	// NoMultipart says the category's backend takes no multipart uploads:
	// the multipart threshold then chooses nothing.
	NoMultipart bool
}

// CheckUpload applies the category's limits to req and returns the upload
// method to use: req.Method, else MULTIPART when the size reaches the
// category's multipart threshold (and the backend takes multipart
// uploads), else the category's method. A PUT or
// POST of more than MaxSingleUpload is refused. All violated rules are
// reported together.
func (c *Category) CheckUpload(req UploadRequest) (method string, err error) {
	var errs FieldErrors
	if !c.AllowsContentType(req.ContentType) {
		errs = append(errs, &FieldError{"content_type", fmt.Sprintf("%q is not allowed in category %q (allowed: %s)",
			req.ContentType, c.Name, strings.Join(c.ContentTypes, ", "))})
	}
	if req.SizeBytes > c.MaxSize {
		errs = append(errs, &FieldError{"size_bytes", fmt.Sprintf("%s is more than the %s allowed in category %q",
			bytesize.Describe(req.SizeBytes), bytesize.Describe(c.MaxSize), c.Name)})
	}
	if c.RequireChecksum != "" && req.ChecksumAlgorithm != c.RequireChecksum {
		errs = append(errs, &FieldError{"checksum", fmt.Sprintf("category %q requires a %s checksum", c.Name, c.RequireChecksum)})
	}
	method = req.Method
	switch {
	case method != "":
	case c.Multipart.Threshold > 0 && req.SizeBytes >= c.Multipart.Threshold && !req.NoMultipart:
		method = MethodMultipart
	default:
		method = c.Method
	}
	if method != MethodMultipart && req.SizeBytes > MaxSingleUpload && req.SizeBytes <= c.MaxSize {
		errs = append(errs, &FieldError{"size_bytes", fmt.Sprintf("%s is more than the %s one %s can carry: use MULTIPART",
			bytesize.Describe(req.SizeBytes), bytesize.Describe(MaxSingleUpload), method)})
	}
	switch {
	case method != MethodMultipart && req.PartChecksumAlgorithm != "":
		errs = append(errs, &FieldError{"part_checksum_algorithm", fmt.Sprintf("applies to MULTIPART uploads only, not %s", method)})
	case method == MethodMultipart && c.Multipart.PartChecksum != "" && req.PartChecksumAlgorithm != "" && req.PartChecksumAlgorithm != c.Multipart.PartChecksum:
		errs = append(errs, &FieldError{"part_checksum_algorithm", fmt.Sprintf("category %q binds %s part checksums, not %s", c.Name, c.Multipart.PartChecksum, req.PartChecksumAlgorithm)})
	}
	if len(errs) > 0 {
		return "", errs
	}
	return method, nil
}

// Extension returns the lower-cased extension of filename, with its dot, when
// it is short and alphanumeric ("report.PDF" → ".pdf"), and "" otherwise, so
// that a client-chosen name never puts arbitrary text into a key.
func Extension(filename string) string {
	ext := path.Ext(strings.ReplaceAll(filename, "\\", "/"))
	if len(ext) < 2 || len(ext) > 11 {
		return ""
	}
	for _, r := range ext[1:] {
		if r > unicode.MaxASCII || !(unicode.IsLetter(r) || unicode.IsDigit(r)) {
			return ""
		}
	}
	return strings.ToLower(ext)
}

// TypeExtension returns an extension, with its dot, for files of
// contentType: "."+subtype when the mime package lists it for the type
// (".pdf" for application/pdf, ".png" for image/png), else the first one
// it lists, else "". The result passes Extension's rules.
func TypeExtension(contentType string) string {
	mediaType, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return ""
	}
	exts, err := mime.ExtensionsByType(mediaType)
	if err != nil || len(exts) == 0 {
		return ""
	}
	ext := exts[0]
	if _, sub, ok := strings.Cut(mediaType, "/"); ok && slices.Contains(exts, "."+sub) {
		ext = "." + sub
	}
	return Extension(ext)
}

// SanitizeFilename returns the base name of a client-supplied file name with
// path separators, control characters and quotes removed, safe to store and
// to put in a Content-Disposition header. It returns "file" when nothing
// usable remains.
func SanitizeFilename(name string) string {
	name = strings.ReplaceAll(name, "\\", "/")
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	var b strings.Builder
	for _, r := range name {
		switch {
		case unicode.IsControl(r), r == '"', r == unicode.ReplacementChar:
		default:
			b.WriteRune(r)
		}
	}
	out := strings.TrimSpace(b.String())
	if out == "" || out == "." || out == ".." {
		return "file"
	}
	return out
}

// ContentDisposition renders a Content-Disposition value of the given type
// ("attachment" or "inline") for filename, with an ASCII fallback and the
// RFC 6266/5987 filename* form for non-ASCII names.
func ContentDisposition(dispositionType, filename string) string {
	name := SanitizeFilename(filename)
	ascii := true
	var fallback strings.Builder
	for _, r := range name {
		if r > unicode.MaxASCII || r == '\\' || r == '%' || r == ';' {
			ascii = false
			fallback.WriteByte('_')
			continue
		}
		fallback.WriteRune(r)
	}
	if ascii {
		return fmt.Sprintf("%s; filename=\"%s\"", dispositionType, name)
	}
	return fmt.Sprintf("%s; filename=\"%s\"; filename*=UTF-8''%s", dispositionType, fallback.String(), pathEscapeRFC5987(name))
}

func pathEscapeRFC5987(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x80 && (unicode.IsLetter(rune(c)) || unicode.IsDigit(rune(c)) || strings.IndexByte("!#$&+-.^_`|~", c) >= 0) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// PartChecksum returns the part checksum algorithm of a multipart upload
// that asked for requested ("" for none): the category's, when it
// requires one, else requested.
func (c *Category) PartChecksum(requested string) string {
	if c.Multipart.PartChecksum != "" {
		return c.Multipart.PartChecksum
	}
	return requested
}
