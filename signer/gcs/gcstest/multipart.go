package gcstest

import (
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fsouza/fake-gcs-server/fakestorage"
)

// XML API multipart uploads, which fake-gcs-server does not have: the
// handler keeps uploads and their parts in memory.

const (
	// DefaultMinPartSize is GCS's minimum size of every part but the last.
	DefaultMinPartSize = 5 << 20
	// DefaultMaxPartBytes bounds the bytes of parts a Server holds at once.
	DefaultMaxPartBytes = 256 << 20
	// maxParts is the largest part number.
	maxParts = 10000
	// maxCompleteBody bounds a CompleteMultipartUpload document.
	maxCompleteBody = 2 << 20
	// maxListed is the longest list the XML API answers.
	maxListed = 1000
	xmlns     = "http://s3.amazonaws.com/doc/2006-03-01/"
)

// upload is a multipart upload in progress.
type upload struct {
	id, key                  string
	contentType, disposition string
	initiated                time.Time
	parts                    map[int]*part
}

type part struct {
	data     []byte
	etag     string
	modified time.Time
}

// multipart is a Server's multipart state; its fields are guarded by
// Server.mu.
type multipart struct {
	uploads   map[string]*upload
	partBytes int64
	// composite holds each object made by completing an upload: GCS gives
	// such an object a CRC32C but no MD5, and an ETag that is not an MD5
	// (which the fake cannot store, so the handler states it).
	composite map[string]compositeObject
}

// compositeObject is the generation and ETag of an object a completed
// upload made.
type compositeObject struct {
	generation int64
	etag       string
}

// limits reads the Server's configured part limits.
func (s *Server) limits() (minPart, maxBytes int64) {
	minPart, maxBytes = s.MinPartSize, s.MaxPartBytes
	if minPart <= 0 {
		minPart = DefaultMinPartSize
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMaxPartBytes
	}
	return minPart, maxBytes
}

func noSuchUpload() *gcsError {
	return &gcsError{http.StatusNotFound, "NoSuchUpload", "the requested upload was not found"}
}

// writeXML answers v as an XML document.
func writeXML(w http.ResponseWriter, status int, v any) error {
	b, err := xml.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/xml; charset=UTF-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, xml.Header)
	_, _ = w.Write(b)
	return nil
}

// lookup returns the upload named by the request's uploadId, which must be
// for key. The caller holds s.mu.
func (s *Server) lookup(r *http.Request, key string) (*upload, error) {
	u := s.mp.uploads[r.URL.Query().Get("uploadId")]
	if u == nil || u.key != key {
		return nil, noSuchUpload()
	}
	return u, nil
}

// initiate starts an upload of key: POST /key?uploads.
func (s *Server) initiate(w http.ResponseWriter, r *http.Request, key string) error {
	var raw [24]byte
	_, _ = rand.Read(raw[:])
	u := &upload{
		id:          "ABPnzm" + base64.RawURLEncoding.EncodeToString(raw[:]),
		key:         key,
		contentType: r.Header.Get("Content-Type"),
		disposition: r.Header.Get("Content-Disposition"),
		initiated:   s.Now().UTC(),
		parts:       map[int]*part{},
	}
	if u.contentType == "" {
		u.contentType = "application/octet-stream"
	}
	s.mu.Lock()
	if s.mp.uploads == nil {
		s.mp.uploads = map[string]*upload{}
	}
	s.mp.uploads[u.id] = u
	s.mu.Unlock()
	return writeXML(w, http.StatusOK, struct {
		XMLName  xml.Name `xml:"InitiateMultipartUploadResult"`
		NS       string   `xml:"xmlns,attr"`
		Bucket   string
		Key      string
		UploadID string `xml:"UploadId"`
	}{NS: xmlns, Bucket: s.Bucket, Key: key, UploadID: u.id})
}

// uploadPart stores one part: PUT /key?partNumber=N&uploadId=ID. The body
// is checked against x-goog-content-length-range and the digests sent, as
// a PUT's is; a part sent again replaces the earlier one.
func (s *Server) uploadPart(w http.ResponseWriter, r *http.Request, key string) error {
	n, err := strconv.Atoi(r.URL.Query().Get("partNumber"))
	if err != nil || n < 1 || n > maxParts {
		return badRequest("InvalidArgument", "partNumber %q is not within 1..%d", r.URL.Query().Get("partNumber"), maxParts)
	}
	s.mu.Lock()
	_, err = s.lookup(r, key)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	_, maxBytes := s.limits()
	limit := min(int64(maxBody), maxBytes)
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return badRequest("IncompleteBody", "reading body: %v", err)
	}
	if int64(len(body)) > limit {
		return badRequest("EntityTooLarge", "part over the %d bytes gcstest takes", limit)
	}
	if err := checkLengthRange(r.Header, len(body)); err != nil {
		return err
	}
	if err := checkDigests(r.Header, body); err != nil {
		return err
	}
	sum := md5.Sum(body)
	p := &part{data: body, etag: `"` + hex.EncodeToString(sum[:]) + `"`, modified: s.Now().UTC()}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.lookup(r, key)
	if err != nil {
		return err
	}
	held := s.mp.partBytes + int64(len(body))
	if old := u.parts[n]; old != nil {
		held -= int64(len(old.data))
	}
	if held > maxBytes {
		return badRequest("EntityTooLarge", "gcstest holds at most %d bytes of parts (Server.MaxPartBytes)", maxBytes)
	}
	s.mp.partBytes = held
	u.parts[n] = p
	w.Header().Set("ETag", p.etag)
	w.WriteHeader(http.StatusOK)
	return nil
}

// listParts answers the parts held: GET /key?uploadId=ID, with max-parts
// and part-number-marker.
func (s *Server) listParts(w http.ResponseWriter, r *http.Request, key string) error {
	q := r.URL.Query()
	max := maxListed
	if v := q.Get("max-parts"); v != "" {
		m, err := strconv.Atoi(v)
		if err != nil || m < 0 {
			return badRequest("InvalidArgument", "max-parts %q", v)
		}
		max = min(m, maxListed)
	}
	marker := 0
	if v := q.Get("part-number-marker"); v != "" {
		m, err := strconv.Atoi(v)
		if err != nil || m < 0 {
			return badRequest("InvalidArgument", "part-number-marker %q", v)
		}
		marker = m
	}
	type xmlPart struct {
		PartNumber   int
		LastModified string
		ETag         string
		Size         int
	}
	out := struct {
		XMLName              xml.Name `xml:"ListPartsResult"`
		NS                   string   `xml:"xmlns,attr"`
		Bucket               string
		Key                  string
		UploadID             string `xml:"UploadId"`
		PartNumberMarker     int
		NextPartNumberMarker int
		MaxParts             int
		IsTruncated          bool
		Parts                []xmlPart `xml:"Part"`
	}{NS: xmlns, Bucket: s.Bucket, Key: key, PartNumberMarker: marker, MaxParts: max}
	s.mu.Lock()
	u, err := s.lookup(r, key)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	out.UploadID = u.id
	numbers := make([]int, 0, len(u.parts))
	for n := range u.parts {
		if n > marker {
			numbers = append(numbers, n)
		}
	}
	slices.Sort(numbers)
	if len(numbers) > max {
		numbers, out.IsTruncated = numbers[:max], true
	}
	for _, n := range numbers {
		p := u.parts[n]
		out.Parts = append(out.Parts, xmlPart{n, p.modified.Format("2006-01-02T15:04:05.000Z"), p.etag, len(p.data)})
		out.NextPartNumberMarker = n
	}
	s.mu.Unlock()
	return writeXML(w, http.StatusOK, out)
}

// complete joins the parts a CompleteMultipartUpload document names into
// the object: POST /key?uploadId=ID. Parts must be ascending
// (InvalidPartOrder), held with the ETag given (InvalidPart), and all but
// the last at least the minimum size (EntityTooSmall). The object gets the
// content type and disposition of the initiation, a CRC32C, no MD5, and
// an ETag that is not an MD5.
func (s *Server) complete(w http.ResponseWriter, r *http.Request, key string) error {
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxCompleteBody+1))
	if err != nil {
		return badRequest("IncompleteBody", "reading body: %v", err)
	}
	if len(raw) > maxCompleteBody {
		return badRequest("MalformedXML", "the completion document is over %d bytes", maxCompleteBody)
	}
	var doc struct {
		XMLName xml.Name `xml:"CompleteMultipartUpload"`
		Parts   []struct {
			PartNumber int
			ETag       string
		} `xml:"Part"`
	}
	if err := xml.Unmarshal(raw, &doc); err != nil || len(doc.Parts) == 0 {
		return badRequest("MalformedXML", "the XML you provided was not well-formed or did not validate: %v", err)
	}
	minPart, _ := s.limits()
	s.mu.Lock()
	u, err := s.lookup(r, key)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	// Checked in passes, so that each refusal does not depend on another:
	// order, then every part held as named, then sizes.
	for i := 1; i < len(doc.Parts); i++ {
		if doc.Parts[i].PartNumber <= doc.Parts[i-1].PartNumber {
			s.mu.Unlock()
			return badRequest("InvalidPartOrder", "the list of parts was not in ascending order: part %d follows part %d", doc.Parts[i].PartNumber, doc.Parts[i-1].PartNumber)
		}
	}
	chosen := make([]*part, len(doc.Parts))
	var size int
	for i, dp := range doc.Parts {
		p := u.parts[dp.PartNumber]
		if p == nil || strings.Trim(p.etag, `"`) != strings.Trim(dp.ETag, `"`) {
			s.mu.Unlock()
			return badRequest("InvalidPart", "one or more of the specified parts could not be found or its entity tag did not match")
		}
		chosen[i] = p
		size += len(p.data)
	}
	for _, p := range chosen[:len(chosen)-1] {
		if int64(len(p.data)) < minPart {
			s.mu.Unlock()
			return badRequest("EntityTooSmall", "your proposed upload is smaller than the minimum allowed object size")
		}
	}
	// The upload ends here: its parts, used or not, are gone.
	delete(s.mp.uploads, u.id)
	for _, p := range u.parts {
		s.mp.partBytes -= int64(len(p.data))
	}
	s.mu.Unlock()

	content := make([]byte, 0, size)
	digests := md5.New()
	for _, p := range chosen {
		content = append(content, p.data...)
		sum, _ := hex.DecodeString(strings.Trim(p.etag, `"`))
		digests.Write(sum)
	}
	etag := fmt.Sprintf("%x-%d", digests.Sum(nil), len(chosen))
	obj := fakestorage.Object{
		ObjectAttrs: fakestorage.ObjectAttrs{
			BucketName:         s.Bucket,
			Name:               key,
			ContentType:        u.contentType,
			ContentDisposition: u.disposition,
		},
		Content: content,
	}
	if err := s.Fake.CreateObjectStreaming(obj.StreamingObject()); err != nil {
		return fmt.Errorf("storing %s: %w", key, err)
	}
	stored, err := s.Fake.GetObject(s.Bucket, key)
	if err != nil {
		return fmt.Errorf("reading back %s: %w", key, err)
	}
	s.mu.Lock()
	if s.mp.composite == nil {
		s.mp.composite = map[string]compositeObject{}
	}
	s.mp.composite[key] = compositeObject{stored.Generation, etag}
	s.mu.Unlock()
	return writeXML(w, http.StatusOK, struct {
		XMLName  xml.Name `xml:"CompleteMultipartUploadResult"`
		NS       string   `xml:"xmlns,attr"`
		Location string
		Bucket   string
		Key      string
		ETag     string
	}{NS: xmlns, Location: "http://" + r.Host + r.URL.Path, Bucket: s.Bucket, Key: key, ETag: `"` + etag + `"`})
}

// abort discards an upload and its parts: DELETE /key?uploadId=ID.
func (s *Server) abort(w http.ResponseWriter, r *http.Request, key string) error {
	s.mu.Lock()
	u, err := s.lookup(r, key)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	delete(s.mp.uploads, u.id)
	for _, p := range u.parts {
		s.mp.partBytes -= int64(len(p.data))
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// listUploads answers the uploads in progress, by key and then initiation:
// GET /bucket?uploads, with max-uploads, key-marker, upload-id-marker and
// prefix.
func (s *Server) listUploads(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	max := maxListed
	if v := q.Get("max-uploads"); v != "" {
		m, err := strconv.Atoi(v)
		if err != nil || m < 0 {
			return badRequest("InvalidArgument", "max-uploads %q", v)
		}
		max = min(m, maxListed)
	}
	keyMarker, idMarker, prefix := q.Get("key-marker"), q.Get("upload-id-marker"), q.Get("prefix")
	type xmlUpload struct {
		Key          string
		UploadID     string `xml:"UploadId"`
		Initiated    string
		StorageClass string
	}
	out := struct {
		XMLName            xml.Name `xml:"ListMultipartUploadsResult"`
		NS                 string   `xml:"xmlns,attr"`
		Bucket             string
		KeyMarker          string
		UploadIDMarker     string `xml:"UploadIdMarker"`
		NextKeyMarker      string
		NextUploadIDMarker string `xml:"NextUploadIdMarker"`
		MaxUploads         int
		IsTruncated        bool
		Uploads            []xmlUpload `xml:"Upload"`
	}{NS: xmlns, Bucket: s.Bucket, KeyMarker: keyMarker, UploadIDMarker: idMarker, MaxUploads: max}
	s.mu.Lock()
	all := make([]*upload, 0, len(s.mp.uploads))
	for _, u := range s.mp.uploads {
		if strings.HasPrefix(u.key, prefix) {
			all = append(all, u)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(all, func(a, b *upload) int {
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		if c := a.initiated.Compare(b.initiated); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	start := 0
	if keyMarker != "" {
		start = len(all)
		for i, u := range all {
			if u.key > keyMarker {
				start = i
				break
			}
			if idMarker != "" && u.key == keyMarker && u.id == idMarker {
				start = i + 1
				break
			}
		}
	}
	all = all[start:]
	if len(all) > max {
		all, out.IsTruncated = all[:max], true
	}
	for _, u := range all {
		out.Uploads = append(out.Uploads, xmlUpload{u.key, u.id, u.initiated.Format("2006-01-02T15:04:05.000Z"), "STANDARD"})
		out.NextKeyMarker, out.NextUploadIDMarker = u.key, u.id
	}
	return writeXML(w, http.StatusOK, out)
}

// compositeETag returns the ETag of the object at key when it is the one
// a completed upload made, and "" otherwise.
func (s *Server) compositeETag(key string) string {
	s.mu.Lock()
	c, ok := s.mp.composite[key]
	s.mu.Unlock()
	if !ok {
		return ""
	}
	if obj, err := s.Fake.GetObject(s.Bucket, key); err != nil || obj.Generation != c.generation {
		return ""
	}
	return c.etag
}

// serveJSON passes a JSON API call to the fake. An object a multipart
// upload made is described without its MD5, as GCS has none for it.
func (s *Server) serveJSON(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/storage/v1/b/"+s.Bucket+"/o/")
	etag := ""
	if ok && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		etag = s.compositeETag(rest)
	}
	if etag == "" {
		s.Fake.HTTPHandler().ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	s.Fake.HTTPHandler().ServeHTTP(rec, r)
	res := rec.Result()
	body := rec.Body.Bytes()
	if r.URL.Query().Get("alt") != "media" && res.StatusCode == http.StatusOK {
		var m map[string]any
		if json.Unmarshal(body, &m) == nil {
			delete(m, "md5Hash")
			m["etag"] = etag
			if b, err := json.Marshal(m); err == nil {
				body = b
			}
		}
	}
	for k, v := range res.Header {
		w.Header()[k] = v
	}
	w.Header().Del("Content-Length")
	if w.Header().Get("ETag") != "" {
		w.Header().Set("ETag", `"`+etag+`"`)
	}
	if v := w.Header().Get("X-Goog-Hash"); v != "" {
		w.Header().Set("X-Goog-Hash", crc32cOnly(v))
	}
	w.WriteHeader(res.StatusCode)
	_, _ = io.Copy(w, bytes.NewReader(body))
}

// crc32cOnly keeps the crc32c= entry of an x-goog-hash value.
func crc32cOnly(v string) string {
	for _, e := range strings.Split(v, ",") {
		if e = strings.TrimSpace(e); strings.HasPrefix(e, "crc32c=") {
			return e
		}
	}
	return ""
}

// checkLengthRange enforces x-goog-content-length-range ("min,max") on a
// body of n bytes, when the request sends it.
func checkLengthRange(h http.Header, n int) error {
	v := h.Get("X-Goog-Content-Length-Range")
	if v == "" {
		return nil
	}
	lo, hi, ok := strings.Cut(v, ",")
	min, err1 := strconv.ParseInt(strings.TrimSpace(lo), 10, 64)
	max, err2 := strconv.ParseInt(strings.TrimSpace(hi), 10, 64)
	if !ok || err1 != nil || err2 != nil || min < 0 || max < min {
		return badRequest("InvalidArgument", "x-goog-content-length-range %q is not min,max", v)
	}
	if int64(n) < min {
		return badRequest("EntityTooSmall", "your proposed upload is smaller than the minimum allowed size (%d bytes, x-goog-content-length-range %s)", n, v)
	}
	if int64(n) > max {
		return badRequest("EntityTooLarge", "your proposed upload exceeds the maximum allowed size (%d bytes, x-goog-content-length-range %s)", n, v)
	}
	return nil
}
