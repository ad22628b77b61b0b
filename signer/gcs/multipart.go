package gcs

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/presignd/presignd/signer"
)

// Multipart uploads go through GCS's XML API, which is compatible with S3's:
//
//   - CreateMultipart: POST /{key}?uploads, with the object's Content-Type
//     and Content-Disposition.
//   - SignPart: a V4 signed PUT /{key}?partNumber=N&uploadId=ID binding
//     x-goog-content-length-range "size,size" (GCS refuses a PUT body
//     outside the range, so the part's exact size is bound) and, for a
//     CRC32C part checksum, "x-goog-hash: crc32c=<base64>" (GCS refuses a
//     part whose bytes do not match). A SHA256 part checksum is
//     signer.ErrUnsupported: GCS checks no SHA-256 of a part. A browser
//     sends these headers cross-origin, so the bucket's CORS configuration
//     must list them (responseHeader) along with ETag.
//   - ListParts: GET /{key}?uploadId=ID, page by page.
//   - CompleteMultipart: POST /{key}?uploadId=ID with a
//     CompleteMultipartUpload document.
//   - AbortMultipart: DELETE /{key}?uploadId=ID.
//   - ListMultipartUploads: GET /{bucket}?uploads, page by page.
//
// The Signer's own XML API calls are authenticated the way its part
// targets are: each goes to a V4 signed URL it makes for the call, with
// every header it sends signed. This needs nothing the Signer does not
// already have (the key, or signBlob), works the same against GCS, an
// emulator host and a verifying fake, and so is proven by the same
// verifier as the targets clients use. An OAuth bearer token would have
// served as well on GCS, but cannot be checked by a fake, and a Signer
// given an HTTPClient adds no token.
//
// An object made by a multipart upload has a CRC32C but no MD5 in GCS, and
// an ETag that is not an MD5; Stat reports the CRC32C, a digest of the
// whole object GCS computes itself.

// GCS's limits for XML API multipart uploads.
const (
	minPartSize   = 5 << 20
	maxPartSize   = 5 << 30
	maxPartCount  = 10000
	maxObjectSize = 5 << 40
)

// Paging of the XML API's lists; tests lower them to cover paging.
var (
	listPartsPage   = 1000
	listUploadsPage = 1000
)

const (
	// xmlCallLifetime is how long the URL of one of the Signer's own XML
	// API calls is valid, retries included.
	xmlCallLifetime = 15 * time.Minute
	// maxXMLResponse bounds what is read of an XML API answer: a page of
	// 1000 uploads with keys of 1024 bytes fits.
	maxXMLResponse = 8 << 20
	// maxUploadIDLength bounds an upload id the Signer accepts.
	maxUploadIDLength = 1024
	// maxListPages bounds the pages one ListMultipartUploads reads.
	maxListPages = 100
)

var (
	_ signer.MultipartUploader = (*Signer)(nil)
	_ signer.MultipartLister   = (*Signer)(nil)
)

// PartLimits returns GCS's rules: parts of 5 MiB (all but the last) to
// 5 GiB, at most 10,000 of them, objects up to 5 TiB.
func (s *Signer) PartLimits() signer.PartLimits {
	return signer.PartLimits{MinPartSize: minPartSize, MaxPartSize: maxPartSize, MaxParts: maxPartCount, MaxObjectSize: maxObjectSize}
}

// CreateMultipart initiates an XML API multipart upload of req.Key whose
// object will have req.ContentType and req.ContentDisposition, and returns
// its upload id. req.Checksum.Algorithm may be empty or CRC32C; another
// fails with an error wrapping signer.ErrUnsupported. A bad key wraps
// signer.ErrInvalidKey; GCS unreachable or failing transiently (after
// retries) wraps signer.ErrUnavailable.
func (s *Signer) CreateMultipart(ctx context.Context, req signer.UploadRequest) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if err := signer.ValidateKey(req.Key); err != nil {
		return "", fmt.Errorf("gcs: %w", err)
	}
	if a := req.Checksum.Algorithm; a != "" && a != signer.CRC32C {
		return "", fmt.Errorf("gcs: create multipart %s: part checksum %s: %w", req.Key, a, signer.ErrUnsupported)
	}
	if !validHeaderValue(req.ContentType) || !validHeaderValue(req.ContentDisposition) {
		return "", fmt.Errorf("gcs: create multipart %s: content type or disposition has control characters", req.Key)
	}
	var headers []header
	if req.ContentType != "" {
		headers = append(headers, header{"Content-Type", req.ContentType})
	}
	if !isBlank(req.ContentDisposition) {
		headers = append(headers, header{"Content-Disposition", req.ContentDisposition})
	}
	status, body, err := s.xmlCall(ctx, http.MethodPost, req.Key, headers, []param{{"uploads", ""}}, nil)
	if err == nil && status != http.StatusOK {
		err = newXMLError(status, body)
	}
	if err != nil {
		return "", fmt.Errorf("gcs: create multipart %s: %w", req.Key, s.wrapUnavailable(ctx, status, err))
	}
	var out struct {
		UploadID string `xml:"UploadId"`
	}
	if err := xml.Unmarshal(body, &out); err != nil {
		return "", fmt.Errorf("gcs: create multipart %s: answer: %w", req.Key, err)
	}
	if err := validateUploadID(out.UploadID); err != nil {
		return "", fmt.Errorf("gcs: create multipart %s: answer: %w", req.Key, err)
	}
	return out.UploadID, nil
}

// SignPart returns a V4 signed PUT target for one part: the URL binds the
// part number and upload id, and the headers bind the part's exact size
// (x-goog-content-length-range) and, when set, its CRC32C (x-goog-hash).
// It makes no call. It fails with an error wrapping signer.ErrInvalidKey
// for a bad key and signer.ErrUnsupported for a checksum other than
// CRC32C, and with a plain error for a malformed checksum, an upload id
// that is empty, too long or not printable ASCII, a part number outside
// 1..10000, a size outside 0..5 GiB, or an expiry not within MaxExpiry.
func (s *Signer) SignPart(ctx context.Context, req signer.PartRequest) (signer.UploadTarget, error) {
	now := s.now().UTC()
	if err := s.check(ctx, req.Key, now, req.Expires); err != nil {
		return signer.UploadTarget{}, err
	}
	if err := validateUploadID(req.UploadID); err != nil {
		return signer.UploadTarget{}, fmt.Errorf("gcs: sign part %s: %w", req.Key, err)
	}
	if req.PartNumber < 1 || req.PartNumber > maxPartCount {
		return signer.UploadTarget{}, fmt.Errorf("gcs: sign part %s: part number %d is not within 1..%d", req.Key, req.PartNumber, maxPartCount)
	}
	if req.Size < 0 || req.Size > maxPartSize {
		return signer.UploadTarget{}, fmt.Errorf("gcs: sign part %s: part %d size %d is not within 0..%d", req.Key, req.PartNumber, req.Size, int64(maxPartSize))
	}
	n := strconv.FormatInt(req.Size, 10)
	lengthRange := n + "," + n
	headers := make(map[string]string, 2)
	signed := make([]header, 1, 2)
	signed[0] = header{"x-goog-content-length-range", lengthRange}
	headers["x-goog-content-length-range"] = lengthRange
	if !req.Checksum.IsZero() {
		if req.Checksum.Algorithm != signer.CRC32C {
			return signer.UploadTarget{}, fmt.Errorf("gcs: sign part %s: part checksum %s: %w", req.Key, req.Checksum.Algorithm, signer.ErrUnsupported)
		}
		name, value, err := checksumHeader(req.Checksum)
		if err != nil {
			return signer.UploadTarget{}, fmt.Errorf("gcs: sign part %s: %w", req.Key, err)
		}
		signed = append(signed, header{name, value})
		headers[name] = value
	}
	query := []param{{"partNumber", strconv.Itoa(req.PartNumber)}, {"uploadId", req.UploadID}}
	u, exp, err := s.signURL(ctx, http.MethodPut, req.Key, signed, query, now, req.Expires)
	if err != nil {
		return signer.UploadTarget{}, fmt.Errorf("gcs: sign part %s: %w", req.Key, err)
	}
	return signer.UploadTarget{Method: http.MethodPut, URL: u, Headers: headers, Expires: exp}, nil
}

// xmlPart is a part in the XML API's lists and completion document.
type xmlPart struct {
	PartNumber int    `xml:"PartNumber"`
	ETag       string `xml:"ETag"`
	Size       int64  `xml:"Size,omitempty"`
}

// ListParts returns the parts GCS holds for the upload, by ascending part
// number, reading every page. GCS keeps no checksum of a part, so
// Part.Checksum is zero. An unknown, completed or aborted upload wraps
// signer.ErrNotFound.
func (s *Signer) ListParts(ctx context.Context, key, uploadID string) ([]signer.Part, error) {
	if err := signer.ValidateKey(key); err != nil {
		return nil, fmt.Errorf("gcs: %w", err)
	}
	if err := validateUploadID(uploadID); err != nil {
		return nil, fmt.Errorf("gcs: list parts %s: %w", key, err)
	}
	var parts []signer.Part
	marker := 0
	for page := 0; page <= maxPartCount/listPartsPage+1; page++ {
		query := []param{{"uploadId", uploadID}, {"max-parts", strconv.Itoa(listPartsPage)}}
		if marker > 0 {
			query = append(query, param{"part-number-marker", strconv.Itoa(marker)})
		}
		status, body, err := s.xmlCall(ctx, http.MethodGet, key, nil, query, nil)
		if err == nil && status != http.StatusOK {
			err = newXMLError(status, body)
		}
		var xe *xmlError
		if errors.As(err, &xe) && xe.code == "NoSuchUpload" {
			return nil, fmt.Errorf("gcs: list parts %s: %w: %w", key, signer.ErrNotFound, err)
		}
		if err != nil {
			return nil, fmt.Errorf("gcs: list parts %s: %w", key, s.wrapUnavailable(ctx, status, err))
		}
		var out struct {
			IsTruncated          bool      `xml:"IsTruncated"`
			NextPartNumberMarker int       `xml:"NextPartNumberMarker"`
			Parts                []xmlPart `xml:"Part"`
		}
		if err := xml.Unmarshal(body, &out); err != nil {
			return nil, fmt.Errorf("gcs: list parts %s: answer: %w", key, err)
		}
		for _, p := range out.Parts {
			if p.PartNumber <= marker || (len(parts) > 0 && p.PartNumber <= parts[len(parts)-1].PartNumber) {
				return nil, fmt.Errorf("gcs: list parts %s: answer lists part %d out of order", key, p.PartNumber)
			}
			parts = append(parts, signer.Part{PartNumber: p.PartNumber, Size: p.Size, ETag: p.ETag})
		}
		if !out.IsTruncated {
			return parts, nil
		}
		if out.NextPartNumberMarker <= marker {
			return nil, fmt.Errorf("gcs: list parts %s: answer is truncated but its next marker %d does not advance", key, out.NextPartNumberMarker)
		}
		marker = out.NextPartNumberMarker
	}
	return nil, fmt.Errorf("gcs: list parts %s: more pages than %d parts fill", key, maxPartCount)
}

// CompleteMultipart joins parts (ascending part numbers, each with the
// ETag its PUT answered) into the object at key. Parts out of order,
// repeated, outside 1..10000 or without an ETag, and parts GCS refuses
// (InvalidPart: not held or held with another ETag; EntityTooSmall: under
// 5 MiB and not last) wrap signer.ErrInvalidPart, naming the part: on a
// refusal the Signer lists the parts GCS holds to find which. An unknown
// upload (already completed, or aborted) wraps signer.ErrNotFound.
func (s *Signer) CompleteMultipart(ctx context.Context, key, uploadID string, parts []signer.Part) error {
	if err := signer.ValidateKey(key); err != nil {
		return fmt.Errorf("gcs: %w", err)
	}
	if err := validateUploadID(uploadID); err != nil {
		return fmt.Errorf("gcs: complete multipart %s: %w", key, err)
	}
	if len(parts) == 0 {
		return fmt.Errorf("gcs: complete multipart %s: no parts: %w", key, signer.ErrInvalidPart)
	}
	doc := struct {
		XMLName xml.Name  `xml:"CompleteMultipartUpload"`
		Parts   []xmlPart `xml:"Part"`
	}{Parts: make([]xmlPart, len(parts))}
	for i, p := range parts {
		switch {
		case p.PartNumber < 1 || p.PartNumber > maxPartCount:
			return fmt.Errorf("gcs: complete multipart %s: part %d is not within 1..%d: %w", key, p.PartNumber, maxPartCount, signer.ErrInvalidPart)
		case i > 0 && p.PartNumber <= parts[i-1].PartNumber:
			return fmt.Errorf("gcs: complete multipart %s: part %d follows part %d: %w", key, p.PartNumber, parts[i-1].PartNumber, signer.ErrInvalidPart)
		case p.ETag == "":
			return fmt.Errorf("gcs: complete multipart %s: part %d has no ETag: %w", key, p.PartNumber, signer.ErrInvalidPart)
		}
		doc.Parts[i] = xmlPart{PartNumber: p.PartNumber, ETag: p.ETag}
	}
	body, err := xml.Marshal(doc)
	if err != nil {
		return fmt.Errorf("gcs: complete multipart %s: %w", key, err)
	}
	headers := []header{{"Content-Type", "application/xml"}}
	status, answer, err := s.xmlCall(ctx, http.MethodPost, key, headers, []param{{"uploadId", uploadID}}, body)
	if err == nil && status == http.StatusOK && bytes.Contains(answer, []byte("<Error>")) {
		// An error may come after a 200 once GCS has begun to answer.
		status = http.StatusInternalServerError
	}
	if err == nil && status != http.StatusOK {
		err = newXMLError(status, answer)
	}
	if err == nil {
		return nil
	}
	var xe *xmlError
	if errors.As(err, &xe) {
		switch xe.code {
		case "NoSuchUpload":
			return fmt.Errorf("gcs: complete multipart %s: %w: %w", key, signer.ErrNotFound, err)
		case "InvalidPart", "InvalidPartOrder", "EntityTooSmall":
			return fmt.Errorf("gcs: complete multipart %s: %s: %w: %w", key, s.culprit(ctx, key, uploadID, parts), signer.ErrInvalidPart, err)
		}
	}
	return fmt.Errorf("gcs: complete multipart %s: %w", key, s.wrapUnavailable(ctx, status, err))
}

// culprit names the first of parts GCS does not hold as given: missing,
// held with another ETag, or under the minimum size and not last. It says
// so when it cannot tell.
func (s *Signer) culprit(ctx context.Context, key, uploadID string, parts []signer.Part) string {
	held, err := s.ListParts(ctx, key, uploadID)
	if err != nil {
		return "cannot tell which part: " + err.Error()
	}
	for i, p := range parts {
		j, found := slices.BinarySearchFunc(held, p.PartNumber, func(h signer.Part, n int) int { return h.PartNumber - n })
		switch {
		case !found:
			return fmt.Sprintf("part %d of %d was never uploaded", p.PartNumber, len(parts))
		case unquote(held[j].ETag) != unquote(p.ETag):
			return fmt.Sprintf("part %d is held with ETag %s, not %s", p.PartNumber, held[j].ETag, p.ETag)
		case i < len(parts)-1 && held[j].Size < minPartSize:
			return fmt.Sprintf("part %d is %d bytes, under the %d bytes every part but the last needs", p.PartNumber, held[j].Size, minPartSize)
		}
	}
	return "GCS named no part and every part is held as given"
}

// AbortMultipart discards the upload and its parts; an unknown, completed
// or aborted upload is not an error.
func (s *Signer) AbortMultipart(ctx context.Context, key, uploadID string) error {
	if err := signer.ValidateKey(key); err != nil {
		return fmt.Errorf("gcs: %w", err)
	}
	if err := validateUploadID(uploadID); err != nil {
		return fmt.Errorf("gcs: abort multipart %s: %w", key, err)
	}
	status, body, err := s.xmlCall(ctx, http.MethodDelete, key, nil, []param{{"uploadId", uploadID}}, nil)
	if err == nil && status != http.StatusNoContent && status != http.StatusOK && status != http.StatusNotFound {
		err = newXMLError(status, body)
	}
	if err != nil {
		return fmt.Errorf("gcs: abort multipart %s: %w", key, s.wrapUnavailable(ctx, status, err))
	}
	return nil
}

// ListMultipartUploads returns up to limit of the bucket's multipart
// uploads initiated before initiatedBefore, oldest first. GCS lists
// uploads by object name, so the Signer reads up to 100 pages of them
// (100,000 uploads) and returns the oldest limit it saw.
func (s *Signer) ListMultipartUploads(ctx context.Context, initiatedBefore time.Time, limit int) ([]signer.PendingMultipart, error) {
	if limit <= 0 {
		return nil, nil
	}
	var found []signer.PendingMultipart
	var keyMarker, idMarker string
	for page := 0; page < maxListPages; page++ {
		query := []param{{"uploads", ""}, {"max-uploads", strconv.Itoa(listUploadsPage)}}
		if keyMarker != "" {
			query = append(query, param{"key-marker", keyMarker})
		}
		if idMarker != "" {
			query = append(query, param{"upload-id-marker", idMarker})
		}
		status, body, err := s.xmlCall(ctx, http.MethodGet, "", nil, query, nil)
		if err == nil && status != http.StatusOK {
			err = newXMLError(status, body)
		}
		if err != nil {
			return nil, fmt.Errorf("gcs: list multipart uploads: %w", s.wrapUnavailable(ctx, status, err))
		}
		var out struct {
			IsTruncated        bool   `xml:"IsTruncated"`
			NextKeyMarker      string `xml:"NextKeyMarker"`
			NextUploadIDMarker string `xml:"NextUploadIdMarker"`
			Uploads            []struct {
				Key       string `xml:"Key"`
				UploadID  string `xml:"UploadId"`
				Initiated string `xml:"Initiated"`
			} `xml:"Upload"`
		}
		if err := xml.Unmarshal(body, &out); err != nil {
			return nil, fmt.Errorf("gcs: list multipart uploads: answer: %w", err)
		}
		for _, u := range out.Uploads {
			at, err := time.Parse(time.RFC3339Nano, u.Initiated)
			if err != nil {
				return nil, fmt.Errorf("gcs: list multipart uploads: upload %s of %s: initiated %q", u.UploadID, u.Key, u.Initiated)
			}
			if at.Before(initiatedBefore) {
				found = append(found, signer.PendingMultipart{Key: u.Key, UploadID: u.UploadID, Initiated: at})
			}
		}
		if !out.IsTruncated {
			break
		}
		if out.NextKeyMarker == keyMarker && out.NextUploadIDMarker == idMarker {
			return nil, errors.New("gcs: list multipart uploads: answer is truncated but its next markers do not advance")
		}
		keyMarker, idMarker = out.NextKeyMarker, out.NextUploadIDMarker
	}
	slices.SortStableFunc(found, func(a, b signer.PendingMultipart) int { return a.Initiated.Compare(b.Initiated) })
	if len(found) > limit {
		found = found[:limit]
	}
	return found, nil
}

// xmlCall makes one of the Signer's own XML API calls: method on key (the
// bucket when empty) with headers and query, through a V4 signed URL that
// binds them all, tried again while it fails transiently.
func (s *Signer) xmlCall(ctx context.Context, method, key string, headers []header, query []param, body []byte) (int, []byte, error) {
	if s.quotaProject != "" {
		headers = append(headers, header{"x-goog-user-project", s.quotaProject})
	}
	now := s.now().UTC()
	u, _, err := s.signURL(ctx, method, key, headers, query, now, now.Add(xmlCallLifetime))
	if err != nil {
		return 0, nil, err
	}
	h := make(http.Header, len(headers))
	for _, hd := range headers {
		h.Set(hd.name, hd.value)
	}
	return s.retrying(ctx, &call{method: method, url: u, body: body, header: h, limit: maxXMLResponse})
}

// wrapUnavailable marks err, the end of a call that answered status, as
// signer.ErrUnavailable when the failure was transient.
func (s *Signer) wrapUnavailable(ctx context.Context, status int, err error) error {
	var xe *xmlError
	transient := false
	if errors.As(err, &xe) {
		transient = retryable(ctx, xe.status, nil)
	} else {
		transient = retryable(ctx, status, err)
	}
	if transient {
		return fmt.Errorf("%w: %w", signer.ErrUnavailable, err)
	}
	return err
}

// xmlError is an XML API answer that is not a success.
type xmlError struct {
	status        int
	code, message string
}

func (e *xmlError) Error() string {
	s := strconv.Itoa(e.status) + " " + http.StatusText(e.status)
	if e.code != "" {
		s += ": " + e.code
	}
	if e.message != "" {
		s += ": " + e.message
	}
	return s
}

// newXMLError reads the code and message of an XML API error body, or
// keeps the start of another body.
func newXMLError(status int, body []byte) error {
	var doc struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	if xml.Unmarshal(body, &doc) == nil && doc.Code != "" {
		return &xmlError{status: status, code: doc.Code, message: doc.Message}
	}
	msg := strings.TrimSpace(string(body))
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	return &xmlError{status: status, message: msg}
}

// validateUploadID accepts a non-empty upload id of printable ASCII
// without spaces, at most maxUploadIDLength bytes.
func validateUploadID(id string) error {
	if id == "" || len(id) > maxUploadIDLength {
		return fmt.Errorf("upload id of %d bytes: want 1 to %d", len(id), maxUploadIDLength)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c >= 0x7f {
			return fmt.Errorf("upload id has byte %#x: want printable ASCII without spaces", c)
		}
	}
	return nil
}

// unquote strips the double quotes around an ETag.
func unquote(etag string) string { return strings.Trim(etag, `"`) }
