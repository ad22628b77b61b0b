package local

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"

	"github.com/presignd/presignd/signer"
)

// CORS settings sent on every response and preflight.
const (
	corsAllowMethods  = "PUT, POST, GET, HEAD"
	corsAllowHeaders  = "Content-Type, Content-MD5, Content-Disposition, " + HeaderChecksumSHA256 + ", " + HeaderChecksumCRC32C + ", Range, If-Match, If-None-Match, If-Modified-Since, If-Range"
	corsExposeHeaders = "ETag, Content-Disposition, Content-Range"
	corsMaxAge        = "3600"
)

// Limits on the part of a POST form that precedes the file.
const (
	formOverhead  = 1 << 20 // bytes of form (fields, framing) besides the file
	maxFormFields = 64
	maxFieldSize  = 16 << 10
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

var (
	errTooLarge       = refuse(http.StatusRequestEntityTooLarge, "body exceeds the signed maximum size")
	errChecksum       = refuse(http.StatusBadRequest, "body does not match the signed checksum")
	errReadBody       = refuse(http.StatusBadRequest, "could not read the request body")
	errNotFound       = refuse(http.StatusNotFound, "no such object")
	errContentType    = refuse(http.StatusForbidden, "Content-Type does not match the signed one")
	errDisposition    = refuse(http.StatusForbidden, "Content-Disposition does not match the signed one")
	errChecksumHeader = refuse(http.StatusForbidden, "checksum header does not match the signed one")
	errMethodNotAllow = refuse(http.StatusMethodNotAllowed, "method not allowed")
	errNotMultipart   = refuse(http.StatusBadRequest, "POST body must be multipart/form-data")
	errMalformedForm  = refuse(http.StatusBadRequest, "malformed form")
	errNoFilePart     = refuse(http.StatusBadRequest, `form has no "file" part`)
	errTooManyFields  = refuse(http.StatusBadRequest, "form has too many fields")
	errFieldTooLarge  = refuse(http.StatusBadRequest, "form field too large")
	errFormTooLarge   = refuse(http.StatusRequestEntityTooLarge, "form exceeds its size limit")
)

// Handler serves the URLs this Signer signs: PUT and POST uploads, the
// part PUTs of multipart uploads (answered with the part's ETag), GET and
// HEAD downloads, and CORS preflights. Mount it at PathPrefix without
// stripping the prefix, e.g. mux.Handle(s.PathPrefix(), s.Handler()).
//
// Refusals are JSON bodies {"error": "..."} with status 400 (malformed
// body, invalid key, checksum mismatch, a part of another size than signed
// or a part number out of range), 403 (bad, missing or expired
// signature, another method, key, Content-Type, Content-Disposition or
// checksum header than the signed one; a part without the checksum its
// upload requires, or for another key's upload), 404 (no such object or
// multipart upload), 409 (the key already holds an
// object), 410 (the key was deleted: see Delete), or 413 (body larger than the signed max-size). Nothing is logged;
// error bodies never contain the signature.
//
// Downloads carry X-Content-Type-Options: nosniff and, except for PDFs,
// Content-Security-Policy: sandbox, since uploaded bytes are served from
// presignd's own origin.
func (s *Signer) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

func (s *Signer) serveHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", s.allowOrigin)
	if s.allowOrigin != "*" {
		h.Add("Vary", "Origin")
	}
	h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
	if !strings.HasPrefix(r.URL.Path, s.prefix) {
		writeError(w, refuse(http.StatusNotFound, "not found"))
		return
	}
	var err error
	switch r.Method {
	case http.MethodOptions:
		h.Set("Access-Control-Allow-Methods", corsAllowMethods)
		h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
		h.Set("Access-Control-Max-Age", corsMaxAge)
		w.WriteHeader(http.StatusNoContent)
		return
	case http.MethodPut:
		q, qerr := url.ParseQuery(r.URL.RawQuery)
		switch {
		case qerr != nil:
			err = errMalformed
		case isPartQuery(q):
			err = s.servePart(w, r, q)
		default:
			err = s.servePut(w, r)
		}
	case http.MethodPost:
		if r.URL.Path == s.prefix {
			err = s.servePost(w, r)
		} else if _, err = s.authorizeQuery(r.Method, r.URL.Path, r.URL.RawQuery); err == nil {
			err = errMethodNotAllow // unreachable: no query grant is signed for POST
		}
	case http.MethodGet, http.MethodHead:
		err = s.serveGet(w, r)
	default:
		h.Set("Allow", "OPTIONS, PUT, POST, GET, HEAD")
		err = errMethodNotAllow
	}
	if err != nil {
		writeError(w, err)
	}
}

// writeError writes err as a short JSON body. Errors that are not
// refusals are reported as 500 without detail.
func writeError(w http.ResponseWriter, err error) {
	ae, ok := errorsAsAuth(err)
	if !ok {
		ae = &authError{status: http.StatusInternalServerError, msg: "internal error"}
	}
	h := w.Header()
	h.Del("ETag")
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(ae.status)
	_ = json.NewEncoder(w).Encode(struct {
		Error string `json:"error"`
	}{ae.msg})
}

func (s *Signer) servePut(w http.ResponseWriter, r *http.Request) error {
	g, err := s.authorizeQuery(r.Method, r.URL.Path, r.URL.RawQuery)
	if err != nil {
		return err
	}
	if err := checkPutHeaders(r.Header, g); err != nil {
		return err
	}
	if g.maxSize > 0 && r.ContentLength > g.maxSize {
		return errTooLarge
	}
	obj, _, err := names(g.key)
	if err != nil {
		return errBadKey
	}
	if err := s.checkNotRevoked(g.key, errRevoked); err != nil {
		return err
	}
	if err := s.checkFree(obj); err != nil {
		return err
	}
	ct := g.contentType
	if ct == "" {
		ct = r.Header.Get("Content-Type")
	}
	etag, err := s.receive(g, r.Body, ct)
	if err != nil {
		return err
	}
	s.committed(r.Context(), g.key)
	w.Header().Set("ETag", etag)
	w.WriteHeader(http.StatusOK)
	return nil
}

// checkPutHeaders requires the headers a PUT target lists, each sent once
// with exactly the signed value.
func checkPutHeaders(h http.Header, g *grant) error {
	exactly := func(name, want string) bool {
		v := h.Values(name)
		return len(v) == 1 && v[0] == want
	}
	switch {
	case g.contentType != "" && !exactly("Content-Type", g.contentType):
		return errContentType
	case g.contentDisposition != "" && !exactly("Content-Disposition", g.contentDisposition):
		return errDisposition
	case g.checksumAlgorithm != "" && !exactly(checksumHeader(g.checksumAlgorithm), g.checksum):
		return errChecksumHeader
	}
	return nil
}

func (s *Signer) servePost(w http.ResponseWriter, r *http.Request) error {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return errNotMultipart
	}
	body := &capReader{r: r.Body, n: formOverhead}
	mr := multipart.NewReader(body, params["boundary"])
	fields := make(map[string][]string)
	var file *multipart.Part
	for n := 0; file == nil; n++ {
		part, err := mr.NextPart()
		switch {
		case errors.Is(err, errTooLarge):
			return errFormTooLarge
		case err == io.EOF:
			return errNoFilePart
		case err != nil:
			return errMalformedForm
		}
		name := strings.ToLower(part.FormName())
		if name == fieldFile {
			file = part
			break
		}
		if n >= maxFormFields {
			return errTooManyFields
		}
		v, err := io.ReadAll(io.LimitReader(part, maxFieldSize+1))
		switch {
		case errors.Is(err, errTooLarge):
			return errFormTooLarge
		case err != nil:
			return errMalformedForm
		case len(v) > maxFieldSize:
			return errFieldTooLarge
		}
		fields[name] = append(fields[name], string(v))
	}
	g, err := s.authorizeForm(fields)
	if err != nil {
		return err
	}
	if g.maxSize > 0 {
		body.n = g.maxSize + formOverhead
	} else {
		body.n = math.MaxInt64
	}
	obj, _, err := names(g.key)
	if err != nil {
		return errBadKey
	}
	if err := s.checkNotRevoked(g.key, errRevoked); err != nil {
		return err
	}
	if err := s.checkFree(obj); err != nil {
		return err
	}
	ct := g.contentType
	if ct == "" {
		ct = file.Header.Get("Content-Type")
	}
	etag, err := s.receive(g, file, ct)
	if err != nil {
		return err
	}
	s.committed(r.Context(), g.key)
	w.Header().Set("ETag", etag)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// capReader reads from r until n bytes have been read, then fails with
// errTooLarge. n may be raised between reads.
type capReader struct {
	r io.Reader
	n int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.n <= 0 {
		return 0, errTooLarge
	}
	if int64(len(p)) > c.n {
		p = p[:c.n]
	}
	n, err := c.r.Read(p)
	c.n -= int64(n)
	return n, err
}

// readTracker remembers the error its reader returned, so a copy can tell
// a failing client from a failing disk.
type readTracker struct {
	r   io.Reader
	err error
}

func (t *readTracker) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF {
		t.err = err
	}
	return n, err
}

// receive streams body into a temporary file, enforcing g's size limit and
// checksum while it goes, then syncs it and commits it as g.key's object.
// It returns the object's ETag. On any failure the temporary file is
// removed and no object appears.
func (s *Signer) receive(g *grant, body io.Reader, contentType string) (etag string, err error) {
	if checkHeaderValue("", contentType) != nil {
		contentType = ""
	}
	tmp := tmpName(".part")
	f, err := s.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return "", fmt.Errorf("create temp file: %w", err)
	}
	defer func() {
		if f != nil {
			f.Close()
		}
		if err != nil {
			_ = s.root.Remove(tmp)
		}
	}()

	sha, sum5, crc := sha256.New(), md5.New(), crc32.New(castagnoli)
	src := &readTracker{r: body}
	var r io.Reader = src
	if g.maxSize > 0 {
		r = io.LimitReader(src, g.maxSize+1)
	}
	bp := copyBufs.Get().(*[]byte)
	n, err := io.CopyBuffer(io.MultiWriter(f, sha, sum5, crc), r, *bp)
	copyBufs.Put(bp)
	switch {
	case src.err != nil && errors.Is(src.err, errTooLarge):
		return "", errTooLarge
	case src.err != nil:
		return "", errReadBody
	case err != nil:
		return "", fmt.Errorf("write temp file: %w", err)
	case g.maxSize > 0 && n > g.maxSize:
		return "", errTooLarge
	}
	sums := map[string][]byte{
		signer.SHA256: sha.Sum(nil),
		signer.MD5:    sum5.Sum(nil),
		signer.CRC32C: crc.Sum(nil),
	}
	if g.checksumAlgorithm != "" {
		want, derr := decodeChecksum(g.checksumAlgorithm, g.checksum)
		if derr != nil || !bytes.Equal(want, sums[g.checksumAlgorithm]) {
			return "", errChecksum
		}
	}
	if err = f.Sync(); err != nil {
		return "", fmt.Errorf("sync temp file: %w", err)
	}
	err = f.Close()
	f = nil
	if err != nil {
		return "", fmt.Errorf("close temp file: %w", err)
	}
	etag = `"` + hex.EncodeToString(sums[signer.MD5]) + `"`
	err = s.commit(g.key, tmp, sidecar{
		Key:                g.key,
		ContentType:        contentType,
		ContentDisposition: g.contentDisposition,
		Size:               n,
		ETag:               etag,
		SHA256:             base64.StdEncoding.EncodeToString(sums[signer.SHA256]),
		MD5:                base64.StdEncoding.EncodeToString(sums[signer.MD5]),
		CRC32C:             base64.StdEncoding.EncodeToString(sums[signer.CRC32C]),
		Created:            s.now().UTC(),
	})
	if err != nil {
		return "", err
	}
	return etag, nil
}

// decodeChecksum decodes a base64 (standard, padded) digest of algorithm
// and checks its length.
func decodeChecksum(algorithm, value string) ([]byte, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(value)
	if err != nil {
		return nil, fmt.Errorf("%s checksum is not standard base64: %w", algorithm, err)
	}
	if n := checksumSize(algorithm); len(b) != n {
		return nil, fmt.Errorf("%s checksum is %d bytes, want %d", algorithm, len(b), n)
	}
	return b, nil
}

func (s *Signer) serveGet(w http.ResponseWriter, r *http.Request) error {
	g, err := s.authorizeQuery(r.Method, r.URL.Path, r.URL.RawQuery)
	if err != nil {
		return err
	}
	obj, meta, err := names(g.key)
	if err != nil {
		return errBadKey
	}
	if err := s.checkNotRevoked(g.key, errRevokedDownload); err != nil {
		return err
	}
	f, err := s.root.Open(obj)
	if err != nil {
		if isNotExist(err) {
			return errNotFound
		}
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return errNotFound
	}
	sc, err := s.readSidecar(meta)
	if err != nil {
		return err
	}
	h := w.Header()
	ct := firstNonEmpty(g.responseContentType, sc.ContentType, defaultContentType)
	h.Set("Content-Type", ct)
	if cd := firstNonEmpty(g.responseContentDisposition, sc.ContentDisposition); cd != "" {
		h.Set("Content-Disposition", cd)
	}
	if sc.ETag != "" {
		h.Set("ETag", sc.ETag)
	}
	// Uploaded bytes are served from presignd's own origin: never let a
	// browser sniff them into HTML or run their scripts. PDFs are exempt
	// from the sandbox, which would stop browsers' PDF viewers.
	h.Set("X-Content-Type-Options", "nosniff")
	if mt, _, _ := mime.ParseMediaType(ct); mt != "application/pdf" {
		h.Set("Content-Security-Policy", "sandbox")
	}
	h.Set("Cache-Control", "private")
	http.ServeContent(w, r, "", fi.ModTime(), f)
	return nil
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}
