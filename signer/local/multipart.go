package local

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/presignd/presignd/signer"
)

// Multipart uploads.
//
// CreateMultipart makes uploads/<id>/ under Dir, <id> being 32 random
// lower-case hex digits, holding upload.json (key, content type and
// disposition, part checksum algorithm, initiation time). A part target is
// a PUT to the key's URL whose query binds the upload id and part number:
//
//	method                        PUT
//	expires                       unix seconds; the URL works while now < expires
//	upload-id, part-number        the upload and the part (1..MaxParts)
//	size                          the exact size of the part's body
//	checksum-algorithm, checksum  SHA256 or CRC32C and its base64 value
//	signature                     base64url (no padding) HMAC-SHA256
//
// signed under its own version tag, so a part grant and an upload grant
// never share a canonical string. The handler streams a part's body into
// tmp/ (refusing it as soon as it passes the bound size), checks the bound
// checksum, then, under the upload's lock, moves it into the upload's
// directory as part-NNNNN-<random>.data and atomically replaces the
// pointer part-NNNNN.json naming it: a part sent again replaces the
// earlier one whole. The answer carries the part's ETag (quoted hex MD5),
// exposed to browsers through CORS.
//
// CompleteMultipart streams the parts, under the upload's lock, into a
// temporary file while computing SHA256, MD5 and CRC32C, syncs it and
// publishes it as the object with its sidecar through the same commit a
// PUT uses, then removes the upload's directory. A crash before the
// commit's rename leaves no object, only a temporary file Sweep removes.
// An upload directory untouched for longer than MultipartMaxIdle is a
// leftover that Sweep removes.

// Limits of the local backend's multipart uploads.
const (
	// DefaultMinPartSize is the smallest size of every part but the last
	// unless Config says otherwise, as on S3.
	DefaultMinPartSize = 5 << 20
	// MaxPartSize is the largest part.
	MaxPartSize = 5 << 30
	// MaxParts is the largest part number.
	MaxParts = 10000
	// MaxObjectSize is the largest object a multipart upload makes.
	MaxObjectSize = 5 << 40
)

const (
	uploadsDir  = "uploads"
	uploadFile  = "upload.json"
	partVersion = "presignd-local-part-v1"
	uploadIDLen = 32

	paramUploadID   = "upload-id"
	paramPartNumber = "part-number"
	paramSize       = "size"
)

var (
	errNoUpload       = refuse(http.StatusNotFound, "no such multipart upload: it was completed, aborted or never created")
	errPartSize       = refuse(http.StatusBadRequest, "body size does not match the signed part size")
	errPartChecksum   = refuse(http.StatusForbidden, "this upload requires a part checksum of its algorithm in the signed target")
	errPartKey        = refuse(http.StatusForbidden, "the multipart upload is for another key")
	errPartOutOfRange = refuse(http.StatusBadRequest, "part number out of range")
)

var (
	_ signer.MultipartUploader = (*Signer)(nil)
	_ signer.MultipartLister   = (*Signer)(nil)
)

// upload is what upload.json holds.
type upload struct {
	Key                string    `json:"key"`
	ContentType        string    `json:"content_type,omitempty"`
	ContentDisposition string    `json:"content_disposition,omitempty"`
	ChecksumAlgorithm  string    `json:"checksum_algorithm,omitempty"`
	Initiated          time.Time `json:"initiated"`
}

// partRecord is what a part's pointer file holds.
type partRecord struct {
	Part   int    `json:"part"`
	Size   int64  `json:"size"`
	ETag   string `json:"etag"`
	SHA256 string `json:"sha256"`
	CRC32C string `json:"crc32c"`
	Data   string `json:"data"` // file name of the bytes, in the upload's directory
}

// partGrant is what a part target's signature binds.
type partGrant struct {
	key               string
	expires           int64
	uploadID          string
	partNumber        int
	size              int64
	checksumAlgorithm string
	checksum          string
}

func (g *partGrant) canonical(b []byte) []byte {
	b = append(b, partVersion...)
	b = append(b, '\n')
	field := func(v string) {
		b = strconv.AppendInt(b, int64(len(v)), 10)
		b = append(b, ':')
		b = append(b, v...)
		b = append(b, '\n')
	}
	field(http.MethodPut)
	field(g.key)
	b = strconv.AppendInt(b, g.expires, 10)
	b = append(b, '\n')
	field(g.uploadID)
	b = strconv.AppendInt(b, int64(g.partNumber), 10)
	b = append(b, '\n')
	b = strconv.AppendInt(b, g.size, 10)
	b = append(b, '\n')
	field(g.checksumAlgorithm)
	field(g.checksum)
	return b
}

func (s *Signer) partMAC(dst []byte, g *partGrant) []byte {
	m := s.macs.Get().(*macState)
	m.h.Reset()
	m.buf = g.canonical(m.buf[:0])
	m.h.Write(m.buf)
	dst = m.h.Sum(dst)
	s.macs.Put(m)
	return dst
}

// validUploadID reports whether id has the form CreateMultipart gives,
// so it can name a directory safely.
func validUploadID(id string) bool {
	if len(id) != uploadIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// partChecksumSize is the digest length of a part checksum algorithm
// (SHA256 or CRC32C), 0 for any other.
func partChecksumSize(alg string) int {
	switch alg {
	case signer.SHA256, signer.CRC32C:
		return checksumSize(alg)
	}
	return 0
}

// PartLimits returns the local backend's rules: parts of at least
// Config.MinPartSize (but the last), at most MaxPartSize, numbered up to
// MaxParts.
func (s *Signer) PartLimits() signer.PartLimits {
	return signer.PartLimits{MinPartSize: s.minPartSize, MaxPartSize: MaxPartSize, MaxParts: MaxParts, MaxObjectSize: MaxObjectSize}
}

// CreateMultipart starts a multipart upload of req.Key and returns its id.
// The key must pass signer.ValidateKey (else ErrInvalidKey); a part
// checksum algorithm other than SHA256 or CRC32C is ErrUnsupported.
func (s *Signer) CreateMultipart(ctx context.Context, req signer.UploadRequest) (string, error) {
	if err := signer.ValidateKey(req.Key); err != nil {
		return "", fmt.Errorf("local: create multipart: %w", err)
	}
	if err := checkHeaderValue("ContentType", req.ContentType); err != nil {
		return "", err
	}
	if err := checkHeaderValue("ContentDisposition", req.ContentDisposition); err != nil {
		return "", err
	}
	if alg := req.Checksum.Algorithm; alg != "" && partChecksumSize(alg) == 0 {
		return "", fmt.Errorf("local: part checksum algorithm %q: %w", alg, signer.ErrUnsupported)
	}
	var b [uploadIDLen / 2]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	data, err := json.Marshal(upload{
		Key:                req.Key,
		ContentType:        req.ContentType,
		ContentDisposition: req.ContentDisposition,
		ChecksumAlgorithm:  req.Checksum.Algorithm,
		Initiated:          s.now().UTC(),
	})
	if err != nil {
		return "", err
	}
	dir := path.Join(uploadsDir, id)
	if err := s.root.Mkdir(dir, 0o750); err != nil {
		return "", fmt.Errorf("local: create multipart: %w", err)
	}
	if err := s.writeFileAtomic(path.Join(dir, uploadFile), data); err != nil {
		_ = s.root.RemoveAll(dir)
		return "", fmt.Errorf("local: create multipart: %w", err)
	}
	if err := s.syncDir(dir); err != nil {
		return "", fmt.Errorf("local: create multipart: %w", err)
	}
	return id, nil
}

// SignPart returns a PUT target for one part, binding the key, upload id,
// part number, exact size and (when set) the part's SHA256 or CRC32C
// checksum. It does no I/O. A bad key is ErrInvalidKey; a malformed upload
// id, a part number outside 1..MaxParts, a size outside 0..MaxPartSize or
// a malformed checksum is an error; another checksum algorithm is
// ErrUnsupported. Expires past now+MaxURLTTL is shortened.
func (s *Signer) SignPart(ctx context.Context, req signer.PartRequest) (signer.UploadTarget, error) {
	if err := signer.ValidateKey(req.Key); err != nil {
		return signer.UploadTarget{}, fmt.Errorf("local: sign part: %w", err)
	}
	switch {
	case !validUploadID(req.UploadID):
		return signer.UploadTarget{}, fmt.Errorf("local: sign part: upload id %q: %w", req.UploadID, signer.ErrNotFound)
	case req.PartNumber < 1 || req.PartNumber > MaxParts:
		return signer.UploadTarget{}, fmt.Errorf("local: sign part: part number %d is outside 1..%d", req.PartNumber, MaxParts)
	case req.Size < 0 || req.Size > MaxPartSize:
		return signer.UploadTarget{}, fmt.Errorf("local: sign part: size %d is outside 0..%d", req.Size, MaxPartSize)
	case req.Expires.IsZero():
		return signer.UploadTarget{}, errors.New("local: Expires is required")
	}
	expires := req.Expires
	if limit := s.now().Add(s.maxURLTTL); expires.After(limit) {
		expires = limit
	}
	g := partGrant{
		key:        req.Key,
		expires:    expires.Unix(),
		uploadID:   req.UploadID,
		partNumber: req.PartNumber,
		size:       req.Size,
	}
	var headers map[string]string
	if !req.Checksum.IsZero() {
		alg := req.Checksum.Algorithm
		if partChecksumSize(alg) == 0 {
			return signer.UploadTarget{}, fmt.Errorf("local: part checksum algorithm %q: %w", alg, signer.ErrUnsupported)
		}
		if _, err := decodeChecksum(alg, req.Checksum.Value); err != nil {
			return signer.UploadTarget{}, fmt.Errorf("local: part checksum value: %w", err)
		}
		g.checksumAlgorithm, g.checksum = alg, req.Checksum.Value
		headers = map[string]string{checksumHeader(alg): g.checksum}
	}
	return signer.UploadTarget{
		Method:  http.MethodPut,
		URL:     s.partURL(&g),
		Headers: headers,
		Expires: time.Unix(g.expires, 0),
	}, nil
}

// partURL writes g's URL.
func (s *Signer) partURL(g *partGrant) string {
	var b strings.Builder
	b.Grow(len(s.baseURL) + len(s.prefix) + len(g.key)*3/2 + 240)
	b.WriteString(s.baseURL)
	b.WriteString(s.prefix)
	writeEscapedKey(&b, g.key)
	var num [20]byte
	b.WriteString("?method=PUT&expires=")
	b.Write(strconv.AppendInt(num[:0], g.expires, 10))
	b.WriteString("&" + paramUploadID + "=")
	b.WriteString(g.uploadID)
	b.WriteString("&" + paramPartNumber + "=")
	b.Write(strconv.AppendInt(num[:0], int64(g.partNumber), 10))
	b.WriteString("&" + paramSize + "=")
	b.Write(strconv.AppendInt(num[:0], g.size, 10))
	if g.checksumAlgorithm != "" {
		b.WriteString("&" + paramChecksumAlgorithm + "=")
		b.WriteString(g.checksumAlgorithm)
		b.WriteString("&" + paramChecksum + "=")
		b.WriteString(url.QueryEscape(g.checksum))
	}
	b.WriteString("&" + paramSignature + "=")
	var sum [sha256.Size]byte
	var sig [64]byte
	b.Write(base64.RawURLEncoding.AppendEncode(sig[:0], s.partMAC(sum[:0], g)))
	return b.String()
}

// isPartQuery reports whether a PUT query is a part target's.
func isPartQuery(q url.Values) bool {
	_, ok := q[paramUploadID]
	return ok
}

// parsePartGrant reads a part grant for key from a parsed query. It checks
// form only (canonical integers, ranges, a well-formed upload id, a known
// algorithm with its value): the caller verifies the signature.
func parsePartGrant(q url.Values, key string) (*partGrant, string, error) {
	var vals [8]string
	for i, name := range [...]string{paramMethod, paramExpires, paramUploadID, paramPartNumber, paramSize, paramChecksumAlgorithm, paramChecksum, paramSignature} {
		v, err := single(q[name])
		if err != nil {
			return nil, "", err
		}
		vals[i] = v
	}
	if vals[0] != http.MethodPut {
		return nil, "", errMalformed
	}
	g := &partGrant{key: key, uploadID: vals[2], checksumAlgorithm: vals[5], checksum: vals[6]}
	var ok bool
	if g.expires, ok = parseCanonicalInt(vals[1]); !ok {
		return nil, "", errMalformed
	}
	if !validUploadID(g.uploadID) {
		return nil, "", errMalformed
	}
	n, ok := parseCanonicalInt(vals[3])
	if !ok {
		return nil, "", errMalformed
	}
	if n < 1 || n > MaxParts {
		return nil, "", errPartOutOfRange
	}
	g.partNumber = int(n)
	if g.size, ok = parseCanonicalInt(vals[4]); !ok || g.size < 0 || g.size > MaxPartSize {
		return nil, "", errMalformed
	}
	if (g.checksumAlgorithm == "") != (g.checksum == "") {
		return nil, "", errMalformed
	}
	if g.checksumAlgorithm != "" && partChecksumSize(g.checksumAlgorithm) == 0 {
		return nil, "", errMalformed
	}
	if vals[7] == "" {
		return nil, "", errSignature
	}
	return g, vals[7], nil
}

// authorizePart verifies a part PUT: the path's key, the query's grant,
// its signature (constant time), then its expiry.
func (s *Signer) authorizePart(method, urlPath string, q url.Values) (*partGrant, error) {
	key, ok := strings.CutPrefix(urlPath, s.prefix)
	if !ok {
		return nil, refuse(http.StatusNotFound, "not found")
	}
	if signer.ValidateKey(key) != nil {
		return nil, errBadKey
	}
	g, sig, err := parsePartGrant(q, key)
	if err != nil {
		return nil, err
	}
	if len(sig) != signatureLen {
		return nil, errSignature
	}
	got, err := base64.RawURLEncoding.Strict().DecodeString(sig)
	if err != nil || len(got) != sha256.Size {
		return nil, errSignature
	}
	var want [sha256.Size]byte
	if !hmac.Equal(got, s.partMAC(want[:0], g)) {
		return nil, errSignature
	}
	if !s.now().Before(time.Unix(g.expires, 0)) {
		return nil, errExpired
	}
	if method != http.MethodPut {
		return nil, errMethod
	}
	return g, nil
}

// servePart receives one part.
func (s *Signer) servePart(w http.ResponseWriter, r *http.Request, q url.Values) error {
	g, err := s.authorizePart(r.Method, r.URL.Path, q)
	if err != nil {
		return err
	}
	if g.checksumAlgorithm != "" {
		if v := r.Header.Values(checksumHeader(g.checksumAlgorithm)); len(v) != 1 || v[0] != g.checksum {
			return errChecksumHeader
		}
	}
	if r.ContentLength >= 0 && r.ContentLength != g.size {
		return errPartSize
	}
	if err := s.checkNotRevoked(g.key, errRevoked); err != nil {
		return err
	}
	up, err := s.readUpload(g.uploadID)
	if err != nil {
		return err
	}
	if up.Key != g.key {
		return errPartKey
	}
	if up.ChecksumAlgorithm != "" && up.ChecksumAlgorithm != g.checksumAlgorithm {
		return errPartChecksum
	}
	rec, tmp, err := s.receivePart(g, r.Body)
	if err != nil {
		return err
	}
	if err := s.commitPart(g, tmp, rec); err != nil {
		_ = s.root.Remove(tmp)
		return err
	}
	w.Header().Set("ETag", rec.ETag)
	w.WriteHeader(http.StatusOK)
	return nil
}

// readUpload reads upload id's upload.json; a missing one is errNoUpload.
func (s *Signer) readUpload(id string) (upload, error) {
	var up upload
	if !validUploadID(id) {
		return up, errNoUpload
	}
	b, err := s.root.ReadFile(path.Join(uploadsDir, id, uploadFile))
	if err != nil {
		if isNotExist(err) {
			return up, errNoUpload
		}
		return up, err
	}
	if err := json.Unmarshal(b, &up); err != nil {
		return up, fmt.Errorf("upload %s: %w", id, err)
	}
	return up, nil
}

// receivePart streams a part's body into a synced file under tmp/,
// refusing it once it passes the bound size or if it is shorter, or if it
// does not match the bound checksum. On success it returns the part's
// record (without Data) and the temporary file's name.
func (s *Signer) receivePart(g *partGrant, body io.Reader) (rec partRecord, _ string, err error) {
	tmp := tmpName(".part")
	f, err := s.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return rec, "", fmt.Errorf("create temp file: %w", err)
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
	bp := copyBufs.Get().(*[]byte)
	n, err := io.CopyBuffer(io.MultiWriter(f, sha, sum5, crc), io.LimitReader(src, g.size+1), *bp)
	copyBufs.Put(bp)
	switch {
	case src.err != nil:
		return rec, "", errReadBody
	case err != nil:
		return rec, "", fmt.Errorf("write temp file: %w", err)
	case n != g.size:
		return rec, "", errPartSize
	}
	rec = partRecord{
		Part:   g.partNumber,
		Size:   n,
		ETag:   `"` + hex.EncodeToString(sum5.Sum(nil)) + `"`,
		SHA256: base64.StdEncoding.EncodeToString(sha.Sum(nil)),
		CRC32C: base64.StdEncoding.EncodeToString(crc.Sum(nil)),
	}
	if g.checksumAlgorithm != "" && rec.checksum(g.checksumAlgorithm) != g.checksum {
		return rec, "", errChecksum
	}
	if err = f.Sync(); err != nil {
		return rec, "", fmt.Errorf("sync temp file: %w", err)
	}
	err = f.Close()
	f = nil
	if err != nil {
		return rec, "", fmt.Errorf("close temp file: %w", err)
	}
	return rec, tmp, nil
}

func (r partRecord) checksum(alg string) string {
	switch alg {
	case signer.SHA256:
		return r.SHA256
	case signer.CRC32C:
		return r.CRC32C
	}
	return ""
}

func partPointer(n int) string { return fmt.Sprintf("part-%05d.json", n) }

// commitPart moves a received part into its upload's directory and points
// the part's pointer at it, replacing (and then removing) an earlier copy.
// It holds the upload's lock, so it cannot interleave with a completion
// or an abort, and refuses if the upload is gone.
func (s *Signer) commitPart(g *partGrant, tmp string, rec partRecord) error {
	defer s.uploadLock(g.uploadID)()
	dir := path.Join(uploadsDir, g.uploadID)
	if _, err := s.readUpload(g.uploadID); err != nil {
		return err
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	rec.Data = fmt.Sprintf("part-%05d-%s.data", g.partNumber, hex.EncodeToString(rnd[:]))
	if err := s.root.Rename(tmp, path.Join(dir, rec.Data)); err != nil {
		return fmt.Errorf("move part: %w", err)
	}
	old, _ := s.readPart(g.uploadID, g.partNumber)
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	ptmp := tmpName(".json")
	if err := s.writeSynced(ptmp, data); err != nil {
		_ = s.root.Remove(path.Join(dir, rec.Data))
		return err
	}
	if err := s.root.Rename(ptmp, path.Join(dir, partPointer(g.partNumber))); err != nil {
		_ = s.root.Remove(ptmp)
		_ = s.root.Remove(path.Join(dir, rec.Data))
		return fmt.Errorf("point at part: %w", err)
	}
	if err := s.syncDir(path.Join(dir, uploadFile)); err != nil {
		return err
	}
	if old.Data != "" && old.Data != rec.Data {
		_ = s.root.Remove(path.Join(dir, old.Data))
	}
	return nil
}

// writeSynced writes data to a new file name and syncs it.
func (s *Signer) writeSynced(name string, data []byte) error {
	f, err := s.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = s.root.Remove(name)
	}
	return err
}

// readPart reads part n's pointer of upload id.
func (s *Signer) readPart(id string, n int) (partRecord, error) {
	var rec partRecord
	b, err := s.root.ReadFile(path.Join(uploadsDir, id, partPointer(n)))
	if err != nil {
		return rec, err
	}
	if err := json.Unmarshal(b, &rec); err != nil || rec.Part != n || !validPartData(rec.Data, n) {
		return rec, fmt.Errorf("part %d: corrupt pointer", n)
	}
	return rec, nil
}

// validPartData reports whether name is a data file name commitPart
// writes for part n, so a pointer cannot name another file.
func validPartData(name string, n int) bool {
	rest, ok := strings.CutPrefix(name, fmt.Sprintf("part-%05d-", n))
	if !ok {
		return false
	}
	h, ok := strings.CutSuffix(rest, ".data")
	if !ok || len(h) != 16 {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil
}

// openUpload checks key and id and returns the upload, under the caller's
// lock. An invalid key is ErrInvalidKey; a malformed, unknown or another
// key's upload is ErrNotFound.
func (s *Signer) openUpload(op, key, id string) (upload, error) {
	if err := signer.ValidateKey(key); err != nil {
		return upload{}, fmt.Errorf("local: %s: %w", op, err)
	}
	up, err := s.readUpload(id)
	switch {
	case errors.Is(err, errNoUpload):
		return up, fmt.Errorf("local: %s: upload %q of %s: %w", op, id, key, signer.ErrNotFound)
	case err != nil:
		return up, fmt.Errorf("local: %s: %w", op, err)
	case up.Key != key:
		return up, fmt.Errorf("local: %s: upload %q is not of %s: %w", op, id, key, signer.ErrNotFound)
	}
	return up, nil
}

// ListParts returns the parts upload id of key holds, by ascending
// number. An unknown, completed or aborted upload (or one of another key)
// is ErrNotFound.
func (s *Signer) ListParts(ctx context.Context, key, uploadID string) ([]signer.Part, error) {
	defer s.uploadLock(uploadID)()
	up, err := s.openUpload("list parts", key, uploadID)
	if err != nil {
		return nil, err
	}
	recs, err := s.partRecords(uploadID)
	if err != nil {
		return nil, fmt.Errorf("local: list parts: %w", err)
	}
	parts := make([]signer.Part, 0, len(recs))
	for _, r := range recs {
		p := signer.Part{PartNumber: r.Part, Size: r.Size, ETag: r.ETag}
		if up.ChecksumAlgorithm != "" {
			p.Checksum = signer.Checksum{Algorithm: up.ChecksumAlgorithm, Value: r.checksum(up.ChecksumAlgorithm)}
		}
		parts = append(parts, p)
	}
	return parts, nil
}

// partRecords reads every part pointer of upload id, by part number.
func (s *Signer) partRecords(id string) ([]partRecord, error) {
	f, err := s.root.Open(path.Join(uploadsDir, id))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	var recs []partRecord
	for _, name := range names {
		num, ok := strings.CutPrefix(name, "part-")
		if !ok {
			continue
		}
		num, ok = strings.CutSuffix(num, ".json")
		if !ok || len(num) != 5 {
			continue
		}
		n, err := strconv.Atoi(num)
		if err != nil || n < 1 || n > MaxParts {
			continue
		}
		rec, err := s.readPart(id, n)
		if err != nil {
			return nil, err
		}
		recs = append(recs, rec)
	}
	slices.SortFunc(recs, func(a, b partRecord) int { return a.Part - b.Part })
	return recs, nil
}

// CompleteMultipart joins parts into the object at key: it checks every
// part against what the upload holds (ETag, bound checksum, ascending
// numbers, every part but the last at least MinPartSize), streams them
// into a synced temporary file while computing the checksums Stat reports,
// and publishes it atomically; then the upload is gone. A part the upload
// does not hold, or holds with another ETag or checksum, is ErrInvalidPart
// naming it; an unknown upload is ErrNotFound, as is an upload completed
// before (its directory is removed once the object is published). The key
// holding an object already (one-shot, as for PUT) or deleted meanwhile is
// an error and leaves the upload as it was.
func (s *Signer) CompleteMultipart(ctx context.Context, key, uploadID string, parts []signer.Part) error {
	defer s.uploadLock(uploadID)()
	up, err := s.openUpload("complete multipart", key, uploadID)
	if err != nil {
		return err
	}
	if len(parts) == 0 {
		return fmt.Errorf("local: complete multipart %s: no parts: %w", key, signer.ErrInvalidPart)
	}
	dir := path.Join(uploadsDir, uploadID)
	for i, p := range parts {
		if i > 0 && p.PartNumber <= parts[i-1].PartNumber {
			return fmt.Errorf("local: complete multipart %s: part %d follows part %d: %w", key, p.PartNumber, parts[i-1].PartNumber, signer.ErrInvalidPart)
		}
		if p.PartNumber < 1 || p.PartNumber > MaxParts {
			return fmt.Errorf("local: complete multipart %s: part %d is outside 1..%d: %w", key, p.PartNumber, MaxParts, signer.ErrInvalidPart)
		}
	}
	recs := make([]partRecord, len(parts))
	var total int64
	for i, p := range parts {
		rec, err := s.readPart(uploadID, p.PartNumber)
		switch {
		case isNotExist(err):
			return fmt.Errorf("local: complete multipart %s: part %d was never uploaded: %w", key, p.PartNumber, signer.ErrInvalidPart)
		case err != nil:
			return fmt.Errorf("local: complete multipart %s: %w", key, err)
		case unquoteETag(p.ETag) != unquoteETag(rec.ETag):
			return fmt.Errorf("local: complete multipart %s: part %d is held with another ETag: %w", key, p.PartNumber, signer.ErrInvalidPart)
		case !p.Checksum.IsZero() && (p.Checksum.Algorithm != up.ChecksumAlgorithm || p.Checksum.Value != rec.checksum(up.ChecksumAlgorithm)):
			return fmt.Errorf("local: complete multipart %s: part %d is held with another checksum: %w", key, p.PartNumber, signer.ErrInvalidPart)
		case i < len(parts)-1 && rec.Size < s.minPartSize:
			return fmt.Errorf("local: complete multipart %s: part %d is %d bytes, under the minimum %d: %w", key, p.PartNumber, rec.Size, s.minPartSize, signer.ErrInvalidPart)
		}
		recs[i] = rec
		total += rec.Size
	}
	if total > MaxObjectSize {
		return fmt.Errorf("local: complete multipart %s: %d bytes exceed %d: %w", key, total, int64(MaxObjectSize), signer.ErrInvalidPart)
	}
	tmp, sc, err := s.assemble(ctx, dir, recs)
	if err != nil {
		return fmt.Errorf("local: complete multipart %s: %w", key, err)
	}
	sc.Key, sc.ContentType, sc.ContentDisposition = key, up.ContentType, up.ContentDisposition
	if err := s.commit(key, tmp, sc); err != nil {
		_ = s.root.Remove(tmp)
		if errors.Is(err, errExists) && s.sameObject(key, sc) {
			// Published by an earlier call that stopped before removing
			// the upload: finish its work.
			s.removeUpload(uploadID)
			return nil
		}
		if errors.Is(err, errRevoked) {
			return fmt.Errorf("local: complete multipart %s: the key was deleted: %w", key, signer.ErrNotFound)
		}
		return fmt.Errorf("local: complete multipart %s: %w", key, err)
	}
	s.removeUpload(uploadID)
	return nil
}

// sameObject reports whether key holds an object whose sidecar has sc's
// size and SHA-256.
func (s *Signer) sameObject(key string, sc sidecar) bool {
	_, meta, err := names(key)
	if err != nil {
		return false
	}
	got, err := s.readSidecar(meta)
	return err == nil && got.Size == sc.Size && got.SHA256 == sc.SHA256
}

// assemble streams recs' data files, in order, into a synced temporary
// file and returns its name and a sidecar with size, ETag and checksums.
// On failure nothing is left behind.
func (s *Signer) assemble(ctx context.Context, dir string, recs []partRecord) (_ string, sc sidecar, err error) {
	tmp := tmpName(".assemble")
	f, err := s.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return "", sc, fmt.Errorf("create temp file: %w", err)
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
	w := io.MultiWriter(f, sha, sum5, crc)
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	var total int64
	for _, rec := range recs {
		if err := ctx.Err(); err != nil {
			return "", sc, err
		}
		pf, err := s.root.Open(path.Join(dir, rec.Data))
		if err != nil {
			return "", sc, fmt.Errorf("part %d: %w", rec.Part, err)
		}
		n, err := io.CopyBuffer(w, io.LimitReader(pf, rec.Size+1), *bp)
		pf.Close()
		if err != nil {
			return "", sc, fmt.Errorf("part %d: %w", rec.Part, err)
		}
		if n != rec.Size {
			return "", sc, fmt.Errorf("part %d: holds %d bytes, its record says %d", rec.Part, n, rec.Size)
		}
		total += n
	}
	if err = f.Sync(); err != nil {
		return "", sc, fmt.Errorf("sync temp file: %w", err)
	}
	err = f.Close()
	f = nil
	if err != nil {
		return "", sc, fmt.Errorf("close temp file: %w", err)
	}
	m := sum5.Sum(nil)
	return tmp, sidecar{
		Size:    total,
		ETag:    `"` + hex.EncodeToString(m) + `"`,
		SHA256:  base64.StdEncoding.EncodeToString(sha.Sum(nil)),
		MD5:     base64.StdEncoding.EncodeToString(m),
		CRC32C:  base64.StdEncoding.EncodeToString(crc.Sum(nil)),
		Created: s.now().UTC(),
	}, nil
}

// removeUpload removes upload id's directory: first renamed into tmp/
// (atomic, so the upload is gone at once), then removed with its parts.
// The caller holds the upload's lock. Failures leave files Sweep removes.
func (s *Signer) removeUpload(id string) {
	dir := path.Join(uploadsDir, id)
	trash := tmpName(".upload")
	if err := s.root.Rename(dir, trash); err != nil {
		if !isNotExist(err) {
			_ = s.root.RemoveAll(dir)
		}
		return
	}
	_ = s.syncDir(dir)
	_ = s.root.RemoveAll(trash)
}

// AbortMultipart discards upload id of key and its parts. An unknown,
// completed or aborted upload (or a malformed id) is not an error and
// touches nothing; an upload of another key is left alone.
func (s *Signer) AbortMultipart(ctx context.Context, key, uploadID string) error {
	defer s.uploadLock(uploadID)()
	_, err := s.openUpload("abort multipart", key, uploadID)
	switch {
	case errors.Is(err, signer.ErrNotFound):
		return nil
	case err != nil:
		return err
	}
	s.removeUpload(uploadID)
	if _, err := s.root.Lstat(path.Join(uploadsDir, uploadID)); !isNotExist(err) {
		return fmt.Errorf("local: abort multipart %s: upload directory not removed: %v", key, err)
	}
	return nil
}

// ListMultipartUploads returns up to limit uploads initiated before
// initiatedBefore, oldest first.
func (s *Signer) ListMultipartUploads(ctx context.Context, initiatedBefore time.Time, limit int) ([]signer.PendingMultipart, error) {
	f, err := s.root.Open(uploadsDir)
	if err != nil {
		return nil, fmt.Errorf("local: list multipart uploads: %w", err)
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("local: list multipart uploads: %w", err)
	}
	var out []signer.PendingMultipart
	for _, id := range names {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		up, err := s.readUpload(id)
		if err != nil {
			continue // being created or removed, or not ours
		}
		if up.Initiated.Before(initiatedBefore) {
			out = append(out, signer.PendingMultipart{Key: up.Key, UploadID: id, Initiated: up.Initiated})
		}
	}
	slices.SortFunc(out, func(a, b signer.PendingMultipart) int { return a.Initiated.Compare(b.Initiated) })
	if limit >= 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// sweepUploads removes upload directories whose last change (the
// directory's own modification time, which every part commit updates) is
// before cutoff, and returns how many it removed.
func (s *Signer) sweepUploads(ctx context.Context, cutoff time.Time) (int, error) {
	f, err := s.root.Open(uploadsDir)
	if err != nil {
		if isNotExist(err) {
			return 0, nil
		}
		return 0, err
	}
	defer f.Close()
	entries, err := f.ReadDir(-1)
	if err != nil {
		return 0, err
	}
	removed := 0
	for _, e := range entries {
		if ctx.Err() != nil {
			return removed, ctx.Err()
		}
		if !e.IsDir() || !validUploadID(e.Name()) {
			continue
		}
		unlock := s.uploadLock(e.Name())
		fi, err := s.root.Lstat(path.Join(uploadsDir, e.Name()))
		if err == nil && fi.IsDir() && fi.ModTime().Before(cutoff) {
			s.removeUpload(e.Name())
			removed++
		}
		unlock()
	}
	return removed, nil
}

func unquoteETag(etag string) string {
	return strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(etag, "W/"), `"`), `"`)
}

// sweepTrash removes the directories of removed uploads that a crash
// left in tmp/ (removeUpload renames an upload there before removing it,
// so they are garbage at any age) and returns how many it removed.
func (s *Signer) sweepTrash(ctx context.Context) (int, error) {
	f, err := s.root.Open(tmpDir)
	if err != nil {
		if isNotExist(err) {
			return 0, nil
		}
		return 0, err
	}
	defer f.Close()
	entries, err := f.ReadDir(-1)
	if err != nil {
		return 0, err
	}
	removed := 0
	for _, e := range entries {
		if ctx.Err() != nil {
			return removed, ctx.Err()
		}
		if !e.IsDir() || !strings.HasSuffix(e.Name(), ".upload") {
			continue
		}
		if err := s.root.RemoveAll(path.Join(tmpDir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, err
		}
		removed++
	}
	return removed, nil
}
