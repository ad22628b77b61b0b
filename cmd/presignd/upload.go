package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	presigndv1 "github.com/presignd/presignd/gen/presignd/v1"
)

// transferUsage is the usage of upload and download.
var transferUsage = map[string]string{
	"upload": `Usage:
  presignd upload FILE [--category C] [--server URL] [--api-key KEY] [flags]

Asks presignd for an upload target, sends FILE straight to storage,
completes the upload and prints the new file's ID. It talks to the REST API
at --server (default $PRESIGND_URL, else http://localhost:8080) with the
key in --api-key (default $PRESIGND_API_KEY), binds the upload to the
file's checksum where the backend can, and draws a progress bar when stderr
is a terminal.

A file at or above the category's multipart threshold (or any file, with
--method MULTIPART) goes up in parts, --parallel at a time, each retried.
Interrupted (Ctrl-C, a crash, a lost connection), the upload can be
resumed: running the same command again sends only the parts storage does
not hold yet. What it needs for that is kept under the user's cache
directory (presignd/uploads) until the upload completes; a file changed
in between starts over.
`,
	"download": `Usage:
  presignd download ID [--output PATH|-] [--server URL] [--api-key KEY]

Fetches a READY file through a short-lived URL, checks its checksum and
prints the path it wrote. It talks to the REST API at --server (default
$PRESIGND_URL, else http://localhost:8080) with the key in --api-key
(default $PRESIGND_API_KEY), and draws a progress bar when stderr is a
terminal.
`,
}

// transferFlags are the flags upload and download share.
type transferFlags struct {
	server, apiKey string
}

func (f *transferFlags) register(fs *flag.FlagSet, stderr io.Writer) {
	server := restURLFromEnv(os.LookupEnv, stderr)
	fs.StringVar(&f.server, "server", server, "presignd's REST base `URL` ($PRESIGND_URL)")
	fs.StringVar(&f.apiKey, "api-key", "", "API `key` (default $PRESIGND_API_KEY)")
}

// client returns the REST client the flags describe, or a clear error for a
// missing key or a malformed server URL.
func (f *transferFlags) client() (*restClient, error) {
	key := f.apiKey
	if key == "" {
		key = os.Getenv("PRESIGND_API_KEY")
	}
	if key == "" {
		return nil, errors.New("no API key: pass --api-key or set PRESIGND_API_KEY")
	}
	u, err := url.Parse(f.server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--server %q: want an http:// or https:// URL such as http://localhost:8080", f.server)
	}
	return &restClient{base: strings.TrimSuffix(u.String(), "/"), key: key, http: http.DefaultClient}, nil
}

// transferCommand runs "presignd upload" or "presignd download" (args[0]).
func transferCommand(args []string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd := args[0]
	fs := newFlagSet(cmd, transferUsage[cmd], args[1:], stdout, stderr)
	var common transferFlags
	common.register(fs, stderr)
	var category, contentType, checksum, method, partChecksum, output string
	parallel := 4
	owner := map[string]string{}
	if cmd == "upload" {
		fs.StringVar(&category, "category", "", "the policy `category` (default: the server's default)")
		fs.StringVar(&contentType, "content-type", "", "the file's MIME `type` (default: from the extension, else sniffed)")
		fs.StringVar(&checksum, "checksum", "", "bind the upload to this `algorithm`: SHA256, MD5, CRC32C or none (default SHA256 where the backend can bind it, else none)")
		fs.StringVar(&method, "method", "", "PUT, POST or MULTIPART (default: the category's, MULTIPART at or above its multipart threshold)")
		fs.IntVar(&parallel, "parallel", parallel, "send this many `parts` of a multipart upload at once (1 to 64)")
		fs.StringVar(&partChecksum, "part-checksum", "", "bind each part of a multipart upload to its checksum, so storage refuses a corrupted part: SHA256, CRC32C or none (default: what the category requires, else none)")
		fs.Func("owner", "an owner field the category requires, as `key=value` (repeatable)", func(s string) error {
			k, v, ok := strings.Cut(s, "=")
			if !ok || k == "" {
				return fmt.Errorf("want key=value, got %q", s)
			}
			owner[k] = v
			return nil
		})
	} else {
		fs.StringVar(&output, "output", "", "write to this `path` (- for stdout; default: the file's name in the current directory, never overwritten)")
	}
	positional, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	if len(positional) != 1 {
		fs.Usage()
		if cmd == "upload" {
			return errors.New("upload takes exactly one FILE")
		}
		return errors.New("download takes exactly one file ID")
	}
	if cmd == "upload" && (parallel < 1 || parallel > 64) {
		return fmt.Errorf("%s: --parallel %d: want 1 to 64", cmd, parallel)
	}
	c, err := common.client()
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	if cmd == "upload" {
		err = runUpload(ctx, c, uploadOptions{
			path: positional[0], category: category, contentType: contentType,
			checksum: checksum, method: method, owner: owner,
			parallel: parallel, partChecksum: partChecksum,
		}, stdout, stderr)
	} else {
		err = runDownload(ctx, c, positional[0], output, stdout, stderr)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	return nil
}

// parseInterspersed parses flags that may come before or after the
// positional arguments, which it returns; everything after "--" is
// positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

type uploadOptions struct {
	path, category, contentType, checksum, method string
	owner                                         map[string]string
	parallel                                      int    // parts at once
	partChecksum                                  string // SHA256, CRC32C, none or ""
}

// checksumAlgorithms maps the --checksum names to the API's and a hash.
var checksumAlgorithms = map[string]struct {
	alg presigndv1.ChecksumAlgorithm
	new func() hash.Hash
}{
	"SHA256": {presigndv1.ChecksumAlgorithm_CHECKSUM_ALGORITHM_SHA256, sha256.New},
	"MD5":    {presigndv1.ChecksumAlgorithm_CHECKSUM_ALGORITHM_MD5, md5.New},
	"CRC32C": {presigndv1.ChecksumAlgorithm_CHECKSUM_ALGORITHM_CRC32C, func() hash.Hash { return crc32.New(crc32.MakeTable(crc32.Castagnoli)) }},
}

// runUpload runs the whole upload flow for one local file and prints the
// new file's ID on stdout. A multipart upload keeps its state under the
// user's cache directory while it runs, and a run of the same command
// resumes it.
func runUpload(ctx context.Context, c *restClient, o uploadOptions, stdout, stderr io.Writer) error {
	f, err := os.Open(o.path)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	switch {
	case !info.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file", o.path)
	case info.Size() == 0:
		return fmt.Errorf("%s is empty; presignd stores files of at least one byte", o.path)
	}
	size := info.Size()
	var methods = map[string]presigndv1.UploadMethod{
		"": presigndv1.UploadMethod_UPLOAD_METHOD_UNSPECIFIED, "PUT": presigndv1.UploadMethod_UPLOAD_METHOD_PUT,
		"POST": presigndv1.UploadMethod_UPLOAD_METHOD_POST, "MULTIPART": presigndv1.UploadMethod_UPLOAD_METHOD_MULTIPART,
	}
	method, ok := methods[strings.ToUpper(o.method)]
	if !ok {
		return fmt.Errorf("--method %q: want PUT, POST or MULTIPART", o.method)
	}
	partAlg := presigndv1.ChecksumAlgorithm_CHECKSUM_ALGORITHM_UNSPECIFIED
	if name := strings.ToUpper(o.partChecksum); name != "" && name != "NONE" {
		a, ok := partChecksums[name]
		if !ok {
			return fmt.Errorf("--part-checksum %q: want SHA256, CRC32C or none", o.partChecksum)
		}
		partAlg = a.alg
	}
	tty := isTerminal(stderr)
	ready := func(file *presigndv1.File) error {
		if tty {
			fmt.Fprintf(stderr, "uploaded %s (%s, %s) as %s\n", o.path, file.GetSizeDisplay(), file.GetContentType(), file.GetFileId())
		}
		fmt.Fprintln(stdout, file.GetFileId())
		return nil
	}

	// A multipart upload of this file by an earlier run of this command
	// is resumed, unless the method asked for cannot be one. The state's
	// lock is taken once there is a state to read or write, so that a
	// single PUT leaves nothing in the cache directory.
	var (
		statePath, absPath string
		stopUnlock         func()
	)
	if method == presigndv1.UploadMethod_UPLOAD_METHOD_UNSPECIFIED || method == presigndv1.UploadMethod_UPLOAD_METHOD_MULTIPART {
		if absPath, err = filepath.Abs(o.path); err != nil {
			return err
		}
		if dir, err := uploadStateDir(); err == nil {
			statePath = filepath.Join(dir, uploadStateName(c.base, absPath, o.category))
		}
	}
	locked := false
	lock := func() error {
		if locked || statePath == "" {
			return nil
		}
		unlock, err := lockUpload(statePath)
		if errors.Is(err, errUploadInProgress) {
			return fmt.Errorf("%s is being uploaded by another run of this command; wait for it or stop it", o.path)
		}
		if err != nil {
			if tty {
				fmt.Fprintf(stderr, "note: %v: this upload cannot be resumed\n", err)
			}
			statePath = ""
			return nil
		}
		locked = true
		stopUnlock = unlock
		return nil
	}
	defer func() {
		if stopUnlock != nil {
			stopUnlock()
		}
	}()
	if statePath != "" {
		if _, err := os.Lstat(statePath); err == nil {
			if err := lock(); err != nil {
				return err
			}
		}
	}
	if locked {
		st, err := loadUploadState(statePath)
		if err != nil {
			if tty {
				fmt.Fprintf(stderr, "note: starting over: %v\n", err)
			}
			if err := removeUploadState(statePath); err != nil {
				return err
			}
		}
		if st != nil {
			file, ended, err := resumeUpload(ctx, c, f, info, absPath, st, statePath, o, stderr, tty)
			if ended || err != nil {
				return finishMultipart(file, err, statePath, o.path, ready)
			}
		}
	}

	contentType, err := detectContentType(f, o.path, o.contentType)
	if err != nil {
		return err
	}
	req := &presigndv1.CreateUploadRequest{
		Category: o.category, Filename: filepath.Base(o.path), ContentType: contentType,
		SizeBytes: size, Method: method, PartChecksumAlgorithm: partAlg,
	}
	if len(o.owner) > 0 {
		req.Owner = o.owner
	}

	// The checksum goes into CreateUpload, so the file is read twice: once
	// to hash it, once to send it (hashed again, to catch a file that
	// changes in between).
	var newHash func() hash.Hash
	name := strings.ToUpper(o.checksum)
	auto := name == ""
	if auto {
		name = "SHA256"
	}
	if name != "NONE" {
		a, ok := checksumAlgorithms[name]
		if !ok {
			return fmt.Errorf("--checksum %q: want SHA256, MD5, CRC32C or none", o.checksum)
		}
		newHash = a.new
		h := newHash()
		bar := newProgress(stderr, tty, "hashing "+req.Filename, size)
		if _, err := io.Copy(io.MultiWriter(h, bar), f); err != nil {
			return fmt.Errorf("read %s: %w", o.path, err)
		}
		bar.finish()
		req.Checksum = &presigndv1.Checksum{Algorithm: a.alg, Value: base64.StdEncoding.EncodeToString(h.Sum(nil))}
	}

	created := &presigndv1.CreateUploadResponse{}
	err = c.call(ctx, http.MethodPost, "/v1/uploads", req, created)
	var apiErr *apiError
	if errors.As(err, &apiErr) && apiErr.Code == codeFailedPrecondition && req.Checksum != nil {
		if !auto {
			return fmt.Errorf("%w (the backend cannot bind a %s checksum to this upload; try another --checksum, or none)", err, name)
		}
		// The backend cannot bind the default checksum to this kind of
		// upload (an S3 POST policy, a GCS SHA-256): CompleteUpload still
		// verifies size and type.
		if tty {
			fmt.Fprintf(stderr, "note: the backend cannot bind a %s checksum to this upload; uploading without one\n", name)
		}
		req.Checksum, newHash = nil, nil
		err = c.call(ctx, http.MethodPost, "/v1/uploads", req, created)
	}
	if err != nil {
		return err
	}
	id := created.GetFile().GetFileId()
	target := created.GetUploadTarget()

	if target.GetMethod() == presigndv1.UploadMethod_UPLOAD_METHOD_MULTIPART {
		u, err := newMultipartUpload(c, f, o.path, info, id, target.GetMultipart(), o.parallel)
		if err != nil {
			return err
		}
		if err := lock(); err != nil {
			// Another run of this command started the same file meanwhile.
			_ = c.call(ctx, http.MethodPost, "/v1/files/"+url.PathEscape(id)+":abort", &presigndv1.AbortUploadRequest{FileId: id}, &presigndv1.AbortUploadResponse{})
			return err
		}
		if statePath != "" {
			u.state, u.statePath = u.newState(c.base, o.category, absPath), statePath
			u.flushState()
			if u.saveErr != nil && tty {
				fmt.Fprintf(stderr, "note: %v: this upload cannot be resumed\n", u.saveErr)
			}
		}
		u.bar = newProgress(stderr, tty, "uploading "+req.Filename, size)
		file, err := u.run(ctx, nil, target.GetParts())
		return finishMultipart(file, err, statePath, o.path, ready)
	}
	if target.GetUrl() == "" {
		return fmt.Errorf("presignd returned no upload target for %s", id)
	}

	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	var sent hash.Hash
	body := io.Reader(f)
	if newHash != nil {
		sent = newHash()
		body = io.TeeReader(f, sent)
	}
	bar := newProgress(stderr, tty, "uploading "+req.Filename, size)
	if err := sendToTarget(ctx, target, io.TeeReader(io.LimitReader(body, size), bar), size, req.Filename, contentType); err != nil {
		return fmt.Errorf("send %s to storage: %w", o.path, err)
	}
	bar.finish()
	if sent != nil && base64.StdEncoding.EncodeToString(sent.Sum(nil)) != req.Checksum.GetValue() {
		return fmt.Errorf("%s changed while it was being uploaded; upload it again", o.path)
	}

	done := &presigndv1.CompleteUploadResponse{}
	if err := c.call(ctx, http.MethodPost, "/v1/files/"+url.PathEscape(id)+":complete", &presigndv1.CompleteUploadRequest{}, done); err != nil {
		return err
	}
	file := done.GetFile()
	if file.GetState() != presigndv1.FileState_FILE_STATE_READY {
		return fmt.Errorf("presignd did not accept the upload of %s as %s: %s: %s", o.path, id, stateName(file.GetState()), file.GetFailureReason())
	}
	return ready(file)
}

// finishMultipart ends a multipart run: an error keeps the state for the
// next run; a completed upload (READY or FAILED) drops it.
func finishMultipart(file *presigndv1.File, err error, statePath, path string, ready func(*presigndv1.File) error) error {
	if err != nil {
		return err
	}
	if statePath != "" {
		if err := removeUploadState(statePath); err != nil {
			return err
		}
	}
	if file.GetState() != presigndv1.FileState_FILE_STATE_READY {
		return fmt.Errorf("presignd did not accept the upload of %s as %s: %s: %s", path, file.GetFileId(), stateName(file.GetState()), file.GetFailureReason())
	}
	return ready(file)
}

// detectContentType returns the explicit type, else the one the file's
// extension names, else one sniffed from its first bytes; parameters such
// as charset are dropped, since categories list bare media types.
func detectContentType(f *os.File, path, explicit string) (string, error) {
	ct := explicit
	if ct == "" {
		ct = mime.TypeByExtension(filepath.Ext(path))
	}
	if ct == "" {
		head := make([]byte, 512)
		n, err := io.ReadFull(f, head)
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("read %s: %w", path, err)
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return "", err
		}
		ct = http.DetectContentType(head[:n])
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return "", fmt.Errorf("content type %q: %w", ct, err)
	}
	return mt, nil
}

// sendToTarget sends size bytes from body to target exactly as it says: a
// PUT with its headers, or a multipart form POST with its form fields (the
// key first) and then the file, named "file", with an exact Content-Length.
func sendToTarget(ctx context.Context, target *presigndv1.UploadTarget, body io.Reader, size int64, filename, contentType string) error {
	var (
		req *http.Request
		err error
	)
	if target.GetMethod() == presigndv1.UploadMethod_UPLOAD_METHOD_POST {
		var head bytes.Buffer
		mw := multipart.NewWriter(&head)
		fields := target.GetFormFields()
		names := make([]string, 0, len(fields))
		for name := range fields {
			names = append(names, name)
		}
		slices.SortFunc(names, func(a, b string) int {
			ka, kb := strings.EqualFold(a, "key"), strings.EqualFold(b, "key")
			switch {
			case ka && !kb:
				return -1
			case kb && !ka:
				return 1
			}
			return strings.Compare(a, b)
		})
		fileType := contentType
		for _, name := range names {
			if strings.EqualFold(name, "Content-Type") {
				fileType = fields[name]
			}
			if err := mw.WriteField(name, fields[name]); err != nil {
				return err
			}
		}
		h := make(textproto.MIMEHeader)
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, filename))
		h.Set("Content-Type", fileType)
		if _, err := mw.CreatePart(h); err != nil {
			return err
		}
		prefix := bytes.Clone(head.Bytes())
		if err := mw.Close(); err != nil {
			return err
		}
		suffix := head.Bytes()[len(prefix):]
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, target.GetUrl(),
			io.MultiReader(bytes.NewReader(prefix), body, bytes.NewReader(suffix)))
		if err != nil {
			return err
		}
		req.ContentLength = int64(len(prefix)) + size + int64(len(suffix))
		for k, v := range target.GetHeaders() {
			if !strings.EqualFold(k, "Content-Type") && !strings.EqualFold(k, "Content-Length") {
				req.Header.Set(k, v)
			}
		}
		req.Header.Set("Content-Type", mw.FormDataContentType())
	} else {
		req, err = http.NewRequestWithContext(ctx, http.MethodPut, target.GetUrl(), body)
		if err != nil {
			return err
		}
		req.ContentLength = size
		for k, v := range target.GetHeaders() {
			switch {
			case strings.EqualFold(k, "Host"):
				req.Host = v
			case strings.EqualFold(k, "Content-Length"):
			default:
				req.Header.Set(k, v)
			}
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("storage answered %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return nil
}

// runDownload fetches one READY file into output and prints the path it
// wrote on stdout (nothing when output is "-", stdout itself).
func runDownload(ctx context.Context, c *restClient, id, output string, stdout, stderr io.Writer) error {
	got := &presigndv1.GetFileResponse{}
	if err := c.call(ctx, http.MethodGet, "/v1/files/"+url.PathEscape(id), nil, got); err != nil {
		return err
	}
	file := got.GetFile()
	if file.GetState() != presigndv1.FileState_FILE_STATE_READY {
		return fmt.Errorf("file %s is %s; only READY files can be downloaded", id, stateName(file.GetState()))
	}
	explicit := output != ""
	if !explicit {
		output = filepath.Base(file.GetFilename())
		if output == "." || output == ".." || output == string(filepath.Separator) || output == "" {
			output = file.GetFileId()
		}
		if _, err := os.Lstat(output); err == nil {
			return fmt.Errorf("%s already exists; choose where to write with --output", output)
		}
	}
	link := &presigndv1.CreateDownloadUrlResponse{}
	if err := c.call(ctx, http.MethodPost, "/v1/files/"+url.PathEscape(file.GetFileId())+":download", &presigndv1.CreateDownloadUrlRequest{}, link); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, link.GetUrl(), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("fetch from storage: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("storage answered %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}

	var w io.Writer = stdout
	var tmp *os.File
	if output != "-" {
		tmp, err = os.CreateTemp(filepath.Dir(output), ".presignd-download-*")
		if err != nil {
			return err
		}
		defer func() {
			if tmp != nil {
				tmp.Close()
				os.Remove(tmp.Name())
			}
		}()
		w = tmp
	}
	var check hash.Hash
	if a, ok := checksumAlgorithms[strings.TrimPrefix(file.GetChecksum().GetAlgorithm().String(), "CHECKSUM_ALGORITHM_")]; ok {
		check = a.new()
		w = io.MultiWriter(w, check)
	}
	tty := isTerminal(stderr)
	bar := newProgress(stderr, tty, "downloading "+file.GetDisplayName(), file.GetSizeBytes())
	n, err := io.Copy(io.MultiWriter(w, bar), resp.Body)
	if err != nil {
		return fmt.Errorf("fetch from storage: %w", err)
	}
	bar.finish()
	if n != file.GetSizeBytes() {
		return fmt.Errorf("storage sent %d bytes, the record says %d", n, file.GetSizeBytes())
	}
	if check != nil && base64.StdEncoding.EncodeToString(check.Sum(nil)) != file.GetChecksum().GetValue() {
		return fmt.Errorf("the downloaded bytes do not match the file's %s checksum", strings.TrimPrefix(file.GetChecksum().GetAlgorithm().String(), "CHECKSUM_ALGORITHM_"))
	}
	if tmp == nil {
		return nil
	}
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if !explicit {
		// Never replace a file that appeared meanwhile.
		if err := os.Link(tmp.Name(), output); err != nil {
			return fmt.Errorf("write %s: %w", output, err)
		}
		os.Remove(tmp.Name())
	} else if err := os.Rename(tmp.Name(), output); err != nil {
		return fmt.Errorf("write %s: %w", output, err)
	}
	tmp = nil
	if tty {
		fmt.Fprintf(stderr, "downloaded %s (%s) to %s\n", file.GetFileId(), file.GetSizeDisplay(), output)
	}
	fmt.Fprintln(stdout, output)
	return nil
}

func stateName(s presigndv1.FileState) string {
	return strings.TrimPrefix(s.String(), "FILE_STATE_")
}

// codeFailedPrecondition is google.rpc.Code FAILED_PRECONDITION: at
// CreateUpload, the backend cannot do what the request asks.
const codeFailedPrecondition = 9

// restClient calls presignd's REST API with an API key.
type restClient struct {
	base string // http://host:port, no trailing slash
	key  string
	http *http.Client
}

// apiError is an error answer of the REST API: a google.rpc.Status.
type apiError struct {
	HTTPStatus int
	Code       int    `json:"code"`
	Message    string `json:"message"`
	Details    []struct {
		FieldViolations []struct {
			Field       string `json:"field"`
			Description string `json:"description"`
		} `json:"field_violations"`
	} `json:"details"`
}

func (e *apiError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "presignd answered %d %s", e.HTTPStatus, http.StatusText(e.HTTPStatus))
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	for _, d := range e.Details {
		for _, v := range d.FieldViolations {
			if fv := v.Field + ": " + v.Description; !strings.Contains(b.String(), fv) {
				b.WriteString("; " + fv)
			}
		}
	}
	switch e.HTTPStatus {
	case http.StatusUnauthorized:
		b.WriteString(" (check --api-key or PRESIGND_API_KEY)")
	case http.StatusForbidden:
		b.WriteString(" (the API key lacks a scope or category this needs)")
	}
	return b.String()
}

// call sends in (nil for no body) as JSON with the proto field names and
// decodes the answer into out; a non-2xx answer becomes an *apiError.
func (c *restClient) call(ctx context.Context, method, path string, in, out proto.Message) error {
	var body io.Reader
	if in != nil {
		raw, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(raw)
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach presignd at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("read answer of %s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		e := &apiError{HTTPStatus: resp.StatusCode}
		if json.Unmarshal(raw, e) != nil {
			e.Message = strings.TrimSpace(string(raw))
			if len(e.Message) > 200 {
				e.Message = e.Message[:200] + "…"
			}
		}
		return e
	}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s %s: unexpected answer (is --server presignd's HTTP address?): %w", method, path, err)
	}
	return nil
}
