// Package local is presignd's embedded storage backend: presignd itself
// serves HMAC-signed upload and download URLs on its HTTP port and keeps the
// bytes on local disk.
//
// # URLs
//
// A PUT or GET URL is BaseURL + PathPrefix + the key (each "/"-separated
// segment path-escaped) and a query carrying the bound values:
//
//	method                        PUT or GET
//	expires                       unix seconds; the URL works while now < expires
//	content-type                  PUT: the Content-Type the client must send
//	max-size                      PUT: largest accepted body, in bytes
//	checksum-algorithm, checksum  PUT: SHA256, MD5 or CRC32C and its base64 value
//	content-disposition           PUT: the Content-Disposition the client must send
//	response-content-type         GET: served instead of the stored type
//	response-content-disposition  GET: served instead of the stored disposition
//	signature                     base64url (no padding) HMAC-SHA256
//
// The signature covers a version tag, the method, the key and every value
// above, so changing any of them, the path, or the HTTP method is refused
// with 403. Unknown query parameters are ignored; a repeated known one is
// refused.
//
// A PUT client sends the headers listed in UploadTarget.Headers, exactly:
// Content-Type, Content-Disposition, and for a bound checksum one of
// x-presignd-checksum-sha256, Content-MD5 or x-presignd-checksum-crc32c.
//
// A POST (HTML form) target's URL is BaseURL + PathPrefix; the bound values
// travel as form fields with the names above plus "key" (and without
// "method"), followed by the file as the last part, named "file". Field
// names are matched case-insensitively; fields after the file are ignored.
// The stored Content-Type is the signed content-type field; the file part's
// own Content-Type header is ignored, since browsers guess it from the file
// name.
//
// # Storage
//
// Under Config.Dir, objects live in objects/<key>, their metadata sidecars
// (JSON: content type and disposition, size, ETag, checksums) in
// meta/<key>, uploads in progress in tmp/, multipart uploads and their
// parts in uploads/<upload id>/ (see multipart.go), and the tombstones of deleted
// keys in revoked/ (see Delete). Only objects/ is reachable through URLs.
// New and Sweep remove temporary files idle for longer than MaxURLTTL,
// multipart uploads idle for longer than MultipartMaxIdle, and lapsed
// tombstones. Every file operation goes through an os.Root, so neither a
// key nor a symbolic link can reach outside Dir.
//
// An upload URL is one-shot: a PUT or POST to a key that already holds an
// object is refused with 409, and one to a key that Delete removed is
// refused with 410 until every upload URL signed before the deletion has
// expired (Delete leaves a tombstone in revoked/ for MaxURLTTL; a download
// URL of the deleted object answers 410 meanwhile). Upload URLs live at most
// MaxURLTTL. Because keys map to paths, a key cannot be
// both an object and a "directory" of another key ("a" and "a/b"); the
// second upload is refused with 409.
package local

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/presignd/presignd/signer"
)

// MinSecretLength is the shortest HMAC secret New accepts, in bytes.
const MinSecretLength = 32

// DefaultPathPrefix is where the handler is mounted unless Config says
// otherwise.
const DefaultPathPrefix = "/local/"

// Directories under Config.Dir.
const (
	objectsDir = "objects"
	metaDir    = "meta"
	tmpDir     = "tmp"
)

// Config configures a Signer.
type Config struct {
	// Dir holds the objects; it is created if missing.
	Dir string
	// BaseURL is the scheme and authority clients reach presignd's HTTP
	// port at, such as http://127.0.0.1:8080, optionally with a path.
	BaseURL string
	// PathPrefix is where Handler is mounted; default "/local/". It must
	// start and end with "/" (missing slashes are added).
	PathPrefix string
	// Secret keys the HMAC; at least MinSecretLength bytes.
	Secret []byte
	// AllowOrigin is sent as Access-Control-Allow-Origin; default "*".
	AllowOrigin string
	// Name is the backend's configured name, shown in StorageURI; default
	// "local".
	Name string
	// MaxURLTTL is the longest an upload target lives: SignUpload shortens
	// a later Expires to now+MaxURLTTL. A deleted key refuses uploads for
	// this long, and Sweep removes temporary files idle for longer. Default
	// DefaultMaxURLTTL. Lowering it while longer targets are out lets those
	// targets write into deleted keys once their tombstones lapse.
	MaxURLTTL time.Duration
	// MinPartSize is the smallest size of every part of a multipart
	// upload but the last; default DefaultMinPartSize. Tests lower it.
	MinPartSize int64
	// MultipartMaxIdle is how long a multipart upload may go without a
	// part arriving before Sweep removes it as abandoned; default
	// DefaultMultipartMaxIdle. It should exceed the longest
	// multipart.upload_ttl of the categories using this backend (the
	// sweeper aborts expired uploads itself; this catches the rest).
	MultipartMaxIdle time.Duration
	// Now returns the current time; default time.Now. For tests.
	Now func() time.Time
}

// Signer is the local backend. It implements signer.Signer,
// signer.PostPolicySigner, signer.MultipartUploader and
// signer.MultipartLister, and serves its URLs through Handler. It is safe
// for concurrent use.
type Signer struct {
	root        *os.Root
	baseURL     string
	prefix      string
	secret      []byte
	allowOrigin string
	name        string
	maxURLTTL   time.Duration
	now         func() time.Time

	minPartSize      int64
	multipartMaxIdle time.Duration

	macs    sync.Pool // of *macState (HMAC-SHA256 keyed with secret)
	seed    maphash.Seed
	locks   [64]sync.Mutex // striped by key; serialise commit and delete
	mpLocks uploadLocks    // one per upload id in use; taken before a key's lock
	// commitHook is called after an upload commits (OnCommit).
	commitHook atomic.Pointer[CommitHook]
}

var (
	_ signer.Signer           = (*Signer)(nil)
	_ signer.PostPolicySigner = (*Signer)(nil)
)

// New returns a Signer storing objects under cfg.Dir, creating the
// directory if needed. It fails if the secret is shorter than
// MinSecretLength, BaseURL is not an absolute http(s) URL, or Dir cannot be
// created or opened.
func New(cfg Config) (*Signer, error) {
	if len(cfg.Secret) < MinSecretLength {
		return nil, fmt.Errorf("local: secret must be at least %d bytes, got %d", MinSecretLength, len(cfg.Secret))
	}
	if cfg.Dir == "" {
		return nil, errors.New("local: Dir is required")
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("local: BaseURL %q must be an absolute http(s) URL without query", cfg.BaseURL)
	}
	prefix := cfg.PathPrefix
	if prefix == "" {
		prefix = DefaultPathPrefix
	}
	if !strings.HasPrefix(prefix, "/") {
		prefix = "/" + prefix
	}
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	absDir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("local: %w", err)
	}
	if err := os.MkdirAll(absDir, 0o750); err != nil {
		return nil, fmt.Errorf("local: create dir: %w", err)
	}
	root, err := os.OpenRoot(absDir)
	if err != nil {
		return nil, fmt.Errorf("local: open dir: %w", err)
	}
	for _, d := range []string{objectsDir, metaDir, tmpDir, revokedDir, uploadsDir} {
		if err := root.Mkdir(d, 0o750); err != nil && !errors.Is(err, fs.ErrExist) {
			root.Close()
			return nil, fmt.Errorf("local: create %s: %w", d, err)
		}
	}
	s := &Signer{
		root:        root,
		baseURL:     strings.TrimSuffix(cfg.BaseURL, "/"),
		prefix:      prefix,
		secret:      append([]byte(nil), cfg.Secret...),
		allowOrigin: cfg.AllowOrigin,
		name:        cfg.Name,
		maxURLTTL:   cfg.MaxURLTTL,
		now:         cfg.Now,
		seed:        maphash.MakeSeed(),

		minPartSize:      cfg.MinPartSize,
		multipartMaxIdle: cfg.MultipartMaxIdle,
	}
	if s.minPartSize <= 0 {
		s.minPartSize = DefaultMinPartSize
	}
	if s.minPartSize > MaxPartSize {
		root.Close()
		return nil, fmt.Errorf("local: MinPartSize %d exceeds MaxPartSize %d", s.minPartSize, int64(MaxPartSize))
	}
	if s.multipartMaxIdle <= 0 {
		s.multipartMaxIdle = DefaultMultipartMaxIdle
	}
	if s.allowOrigin == "" {
		s.allowOrigin = "*"
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.name == "" {
		s.name = "local"
	}
	if s.maxURLTTL <= 0 {
		s.maxURLTTL = DefaultMaxURLTTL
	}
	s.macs.New = func() any { return &macState{h: hmac.New(sha256.New, s.secret), buf: make([]byte, 0, 512)} }
	_, _ = s.Sweep(context.Background()) // leftovers of a previous run; the sweeper retries
	return s, nil
}

// Close releases the directory handle. The Signer must not be used after.
func (s *Signer) Close() error { return s.root.Close() }

// PathPrefix returns the path Handler expects to be mounted at.
func (s *Signer) PathPrefix() string { return s.prefix }

// SignUpload returns a PUT target binding req. The key must pass
// signer.ValidateKey (else the error wraps signer.ErrInvalidKey); Expires
// must be set (a time in the past yields a URL that is refused; one more
// than MaxURLTTL ahead is shortened, and the target's Expires says so). MaxSize 0
// means "Size", and both 0 means no limit. An unknown checksum algorithm
// wraps signer.ErrUnsupported.
func (s *Signer) SignUpload(ctx context.Context, req signer.UploadRequest) (signer.UploadTarget, error) {
	g, err := s.uploadGrant(http.MethodPut, req)
	if err != nil {
		return signer.UploadTarget{}, err
	}
	h := make(map[string]string, 3)
	if g.contentType != "" {
		h["Content-Type"] = g.contentType
	}
	if g.contentDisposition != "" {
		h["Content-Disposition"] = g.contentDisposition
	}
	if g.checksumAlgorithm != "" {
		h[checksumHeader(g.checksumAlgorithm)] = g.checksum
	}
	return signer.UploadTarget{
		Method:  http.MethodPut,
		URL:     s.signedURL(g),
		Headers: h,
		Expires: time.Unix(g.expires, 0),
	}, nil
}

// SignPostUpload returns an HTML-form POST target binding req, under the
// same rules as SignUpload. The form fields must precede the file part,
// named "file".
func (s *Signer) SignPostUpload(ctx context.Context, req signer.UploadRequest) (signer.UploadTarget, error) {
	g, err := s.uploadGrant(http.MethodPost, req)
	if err != nil {
		return signer.UploadTarget{}, err
	}
	fields := map[string]string{fieldKey: g.key}
	for _, p := range g.params() {
		fields[p[0]] = p[1]
	}
	fields[paramSignature] = s.sign(g)
	return signer.UploadTarget{
		Method:     http.MethodPost,
		URL:        s.baseURL + s.prefix,
		FormFields: fields,
		Expires:    time.Unix(g.expires, 0),
	}, nil
}

func (s *Signer) uploadGrant(method string, req signer.UploadRequest) (*grant, error) {
	if err := signer.ValidateKey(req.Key); err != nil {
		return nil, fmt.Errorf("local: sign %s: %w", method, err)
	}
	if req.Expires.IsZero() {
		return nil, errors.New("local: Expires is required")
	}
	if req.Size < 0 || req.MaxSize < 0 {
		return nil, errors.New("local: Size and MaxSize must not be negative")
	}
	if err := checkHeaderValue("ContentType", req.ContentType); err != nil {
		return nil, err
	}
	if err := checkHeaderValue("ContentDisposition", req.ContentDisposition); err != nil {
		return nil, err
	}
	expires := req.Expires
	if limit := s.now().Add(s.maxURLTTL); expires.After(limit) {
		expires = limit
	}
	g := &grant{
		method:             method,
		key:                req.Key,
		expires:            expires.Unix(),
		contentType:        req.ContentType,
		maxSize:            req.MaxSize,
		contentDisposition: req.ContentDisposition,
	}
	if g.maxSize == 0 {
		g.maxSize = req.Size
	}
	if !req.Checksum.IsZero() {
		n := checksumSize(req.Checksum.Algorithm)
		if n == 0 {
			return nil, fmt.Errorf("local: checksum algorithm %q: %w", req.Checksum.Algorithm, signer.ErrUnsupported)
		}
		if _, err := decodeChecksum(req.Checksum.Algorithm, req.Checksum.Value); err != nil {
			return nil, fmt.Errorf("local: checksum value: %w", err)
		}
		g.checksumAlgorithm, g.checksum = req.Checksum.Algorithm, req.Checksum.Value
	}
	return g, nil
}

// SignDownload returns a GET URL for req. The key must pass
// signer.ValidateKey (else the error wraps signer.ErrInvalidKey); Expires
// must be set. The object need not exist yet.
func (s *Signer) SignDownload(ctx context.Context, req signer.DownloadRequest) (string, error) {
	if err := signer.ValidateKey(req.Key); err != nil {
		return "", fmt.Errorf("local: sign GET: %w", err)
	}
	if req.Expires.IsZero() {
		return "", errors.New("local: Expires is required")
	}
	if err := checkHeaderValue("ResponseContentType", req.ResponseContentType); err != nil {
		return "", err
	}
	if err := checkHeaderValue("ResponseContentDisposition", req.ResponseContentDisposition); err != nil {
		return "", err
	}
	return s.signedURL(&grant{
		method:                     http.MethodGet,
		key:                        req.Key,
		expires:                    req.Expires.Unix(),
		responseContentType:        req.ResponseContentType,
		responseContentDisposition: req.ResponseContentDisposition,
	}), nil
}

// Stat describes the object at key. A missing object (or a key that names
// a "directory" of other keys) returns an error wrapping signer.ErrNotFound.
// ETag is the quoted hex MD5; Checksums holds SHA256, MD5 and CRC32C.
func (s *Signer) Stat(ctx context.Context, key string) (signer.ObjectInfo, error) {
	obj, meta, err := names(key)
	if err != nil {
		return signer.ObjectInfo{}, fmt.Errorf("local: stat: %w", err)
	}
	fi, err := s.root.Lstat(obj)
	if err != nil {
		if isNotExist(err) {
			return signer.ObjectInfo{}, fmt.Errorf("local: stat %s: %w", key, signer.ErrNotFound)
		}
		return signer.ObjectInfo{}, fmt.Errorf("local: stat %s: %w", key, err)
	}
	if !fi.Mode().IsRegular() {
		return signer.ObjectInfo{}, fmt.Errorf("local: stat %s: %w", key, signer.ErrNotFound)
	}
	sc, err := s.readSidecar(meta)
	if err != nil {
		return signer.ObjectInfo{}, fmt.Errorf("local: stat %s: %w", key, err)
	}
	info := signer.ObjectInfo{
		Size:        fi.Size(),
		ContentType: sc.ContentType,
		ETag:        sc.ETag,
		Modified:    fi.ModTime(),
	}
	if info.ContentType == "" {
		info.ContentType = defaultContentType
	}
	if sc.SHA256 != "" {
		info.Checksums = map[string]string{signer.SHA256: sc.SHA256, signer.MD5: sc.MD5, signer.CRC32C: sc.CRC32C}
	}
	return info, nil
}

// Delete removes the object at key and its sidecar, and prunes directories
// left empty. It first leaves a tombstone: for MaxURLTTL, uploads to key
// are refused with 410 (every upload URL signed before is spent) and
// download URLs answer 410. A missing object is not an error, and is
// buried all the same.
func (s *Signer) Delete(ctx context.Context, key string) error {
	obj, meta, err := names(key)
	if err != nil {
		return fmt.Errorf("local: delete: %w", err)
	}
	mu := s.lock(key)
	mu.Lock()
	defer mu.Unlock()
	if err := s.bury(key); err != nil {
		return fmt.Errorf("local: delete %s: tombstone: %w", key, err)
	}
	if err := s.removeFile(obj); err != nil {
		return fmt.Errorf("local: delete %s: %w", key, err)
	}
	if err := s.removeFile(meta); err != nil {
		return fmt.Errorf("local: delete %s: %w", key, err)
	}
	s.prune(obj)
	s.prune(meta)
	return nil
}

// StorageURI returns local://<Name>/<key>, naming the object within the
// backend and never the server's disk, or "" if key is invalid.
func (s *Signer) StorageURI(key string) string {
	if _, _, err := names(key); err != nil {
		return ""
	}
	return (&url.URL{Scheme: "local", Host: s.name, Path: "/" + key}).String()
}

const defaultContentType = "application/octet-stream"

// names returns the root-relative paths of key's object and sidecar. It
// refuses keys signer.ValidateKey rejects and proves, lexically, that both
// paths stay inside their trees.
func names(key string) (obj, meta string, err error) {
	if err := signer.ValidateKey(key); err != nil {
		return "", "", err
	}
	obj = filepath.Join(objectsDir, filepath.FromSlash(key))
	meta = filepath.Join(metaDir, filepath.FromSlash(key))
	for _, p := range [...][2]string{{objectsDir, obj}, {metaDir, meta}} {
		rel, err := filepath.Rel(p[0], p[1])
		if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
			return "", "", fmt.Errorf("%w: leaves the storage directory", signer.ErrInvalidKey)
		}
	}
	return obj, meta, nil
}

// checkHeaderValue refuses values that cannot travel in an HTTP header.
func checkHeaderValue(field, v string) error {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return fmt.Errorf("local: %s contains a control character", field)
		}
	}
	return nil
}

func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

func (s *Signer) lock(key string) *sync.Mutex {
	return &s.locks[maphash.String(s.seed, key)%uint64(len(s.locks))]
}

// uploadLock locks the upload id and returns the unlock function. It
// serialises the part commits, completion, abort and sweep of one
// multipart upload, and only of that one: a long assembly does not hold up
// other uploads. It is taken before a key's lock, never after.
func (s *Signer) uploadLock(id string) (unlock func()) { return s.mpLocks.lock(id) }

// uploadLocks is a mutex per upload id, kept while someone holds or
// waits for it.
type uploadLocks struct {
	mu sync.Mutex
	m  map[string]*uploadMutex
}

type uploadMutex struct {
	sync.Mutex
	refs int
}

func (l *uploadLocks) lock(id string) func() {
	l.mu.Lock()
	if l.m == nil {
		l.m = make(map[string]*uploadMutex)
	}
	m := l.m[id]
	if m == nil {
		m = &uploadMutex{}
		l.m[id] = m
	}
	m.refs++
	l.mu.Unlock()
	m.Lock()
	return func() {
		m.Unlock()
		l.mu.Lock()
		if m.refs--; m.refs == 0 {
			delete(l.m, id)
		}
		l.mu.Unlock()
	}
}

// sidecar is the metadata stored beside an object, under meta/.
type sidecar struct {
	Key                string    `json:"key"`
	ContentType        string    `json:"content_type,omitempty"`
	ContentDisposition string    `json:"content_disposition,omitempty"`
	Size               int64     `json:"size"`
	ETag               string    `json:"etag"`
	SHA256             string    `json:"sha256"`
	MD5                string    `json:"md5"`
	CRC32C             string    `json:"crc32c"`
	Created            time.Time `json:"created"`
}

// readSidecar returns the sidecar at name; a missing one yields the zero
// value (the object is still served, as application/octet-stream).
func (s *Signer) readSidecar(name string) (sidecar, error) {
	var sc sidecar
	b, err := s.root.ReadFile(name)
	if err != nil {
		if isNotExist(err) {
			return sc, nil
		}
		return sc, err
	}
	if err := json.Unmarshal(b, &sc); err != nil {
		return sc, fmt.Errorf("sidecar: %w", err)
	}
	return sc, nil
}

// removeFile removes a regular file or symlink at name; a missing file or
// a directory is left alone.
func (s *Signer) removeFile(name string) error {
	fi, err := s.root.Lstat(name)
	if err != nil {
		if isNotExist(err) {
			return nil
		}
		return err
	}
	if fi.IsDir() {
		return nil
	}
	if err := s.root.Remove(name); err != nil && !isNotExist(err) {
		return err
	}
	return nil
}

// prune removes the now-empty parent directories of name, stopping at the
// top of its tree or at the first directory that is not empty.
func (s *Signer) prune(name string) {
	top := strings.SplitN(filepath.ToSlash(name), "/", 2)[0]
	for dir := filepath.Dir(name); dir != top && dir != "." && dir != string(filepath.Separator); dir = filepath.Dir(dir) {
		if s.root.Remove(dir) != nil {
			return
		}
	}
}

// tmpName returns a fresh name under tmp/.
func tmpName(suffix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return filepath.Join(tmpDir, hex.EncodeToString(b[:])+suffix)
}

// syncDir fsyncs the directory holding name.
func (s *Signer) syncDir(name string) error {
	d, err := s.root.Open(filepath.Dir(name))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// errConflict: the key is taken, or clashes with the path of another key.
var (
	errExists   = refuse(http.StatusConflict, "an object already exists at this key")
	errConflict = refuse(http.StatusConflict, "key conflicts with an existing key")
)

// renameInto moves the file at from to to, creating to's directory. It
// retries when a concurrent Delete prunes that directory in between. A path
// component that is a file reports errConflict.
func (s *Signer) renameInto(from, to string) error {
	var err error
	for range 4 {
		if err = s.root.MkdirAll(filepath.Dir(to), 0o750); err != nil {
			if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, fs.ErrExist) {
				return errConflict
			}
			return err
		}
		if err = s.root.Rename(from, to); err == nil {
			return nil
		}
		if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EISDIR) || errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, fs.ErrExist) {
			return errConflict
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return err
}

// writeFileAtomic writes data to name through a synced temporary file and a
// rename, then syncs name's directory.
func (s *Signer) writeFileAtomic(name string, data []byte) error {
	tmp := tmpName(".json")
	f, err := s.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
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
	if err == nil {
		err = s.renameInto(tmp, name)
	}
	if err != nil {
		_ = s.root.Remove(tmp)
		return err
	}
	return s.syncDir(name)
}

// commit publishes the received file tmp as key's object with sidecar sc.
// It refuses (errExists) if key already holds an object, so an upload URL
// cannot overwrite: the existence check, the sidecar write and the rename
// happen under key's lock. The sidecar is written first, so a published
// object always has one.
func (s *Signer) commit(key, tmp string, sc sidecar) error {
	obj, meta, err := names(key)
	if err != nil {
		return err
	}
	mu := s.lock(key)
	mu.Lock()
	defer mu.Unlock()
	if err := s.checkNotRevoked(key, errRevoked); err != nil {
		return err
	}
	if err := s.checkFree(obj); err != nil {
		return err
	}
	data, err := json.Marshal(sc)
	if err != nil {
		return err
	}
	if err := s.writeFileAtomic(meta, data); err != nil {
		return fmt.Errorf("write sidecar: %w", err)
	}
	if err := s.renameInto(tmp, obj); err != nil {
		_ = s.root.Remove(meta)
		return err
	}
	return s.syncDir(obj)
}

// checkFree returns errExists if obj is taken, errConflict if it is a
// directory or under a file, nil if it is free.
func (s *Signer) checkFree(obj string) error {
	fi, err := s.root.Lstat(obj)
	switch {
	case err == nil && fi.IsDir():
		return errConflict
	case err == nil:
		return errExists
	case errors.Is(err, syscall.ENOTDIR):
		return errConflict
	case errors.Is(err, fs.ErrNotExist):
		return nil
	}
	return err
}
