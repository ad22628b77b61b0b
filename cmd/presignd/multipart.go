package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	presigndv1 "github.com/presignd/presignd/gen/presignd/v1"
)

// errUploadInProgress: another run of the same upload command holds its
// state.
var errUploadInProgress = errors.New("another presignd upload of this file is running")

const (
	// maxPartAttempts is how often one part is tried before the upload
	// gives up (and can be resumed).
	maxPartAttempts = 5
	// signBatch is how many part targets one SignParts call asks for when
	// parts bind no checksum.
	signBatch = 100
	// minTargetLife is how long a part target must still live to be used;
	// an older one is signed again.
	minTargetLife = time.Minute
	// stateSaveEvery bounds how often the state is rewritten while parts
	// complete; it is also written when the run stops.
	stateSaveEvery = time.Second
)

// partChecksums maps the part checksum names to the API's and a hash.
var partChecksums = map[string]struct {
	alg presigndv1.ChecksumAlgorithm
	new func() hash.Hash
}{
	"SHA256": {presigndv1.ChecksumAlgorithm_CHECKSUM_ALGORITHM_SHA256, sha256.New},
	"CRC32C": {presigndv1.ChecksumAlgorithm_CHECKSUM_ALGORITHM_CRC32C, func() hash.Hash { return crc32.New(crc32.MakeTable(crc32.Castagnoli)) }},
}

// partChecksumName is the name of a part checksum algorithm of the API
// ("" for none, or one this client cannot compute).
func partChecksumName(a presigndv1.ChecksumAlgorithm) string {
	name := strings.TrimPrefix(a.String(), "CHECKSUM_ALGORITHM_")
	if _, ok := partChecksums[name]; ok {
		return name
	}
	return ""
}

// multipartUpload sends the parts of one file to a PENDING multipart
// upload, in parallel, each retried with backoff, and completes it. What
// it sent is kept in a state file (when it has one) so that an
// interrupted run can be resumed.
type multipartUpload struct {
	c         *restClient
	http      *http.Client
	f         *os.File
	path      string
	info      os.FileInfo // the file as the upload began
	id        string
	partSize  int64
	partCount int32
	alg       string // the part checksum: "", SHA256 or CRC32C
	noETag    bool   // storage answers parts without an ETag (Azure Blob)
	parallel  int
	bar       *progress

	stateMu   sync.Mutex
	state     *uploadState
	statePath string // "" when the upload cannot be resumed
	savedAt   time.Time
	saveErr   error // the first failure to keep the state

	signMu  sync.Mutex
	targets map[int32]*presigndv1.PartTarget // signed, not yet used
	order   []int32                          // the parts this run sends, ascending
	pos     map[int32]int                    // index of a part in order

	// sent counts the bytes handed to storage in part bodies, resent
	// parts included.
	sent atomic.Int64
}

// newMultipartUpload prepares the upload of f to the PENDING multipart
// file id with the given layout; it refuses a layout that does not cover
// the file exactly.
func newMultipartUpload(c *restClient, f *os.File, path string, info os.FileInfo, id string, layout *presigndv1.MultipartLayout, parallel int) (*multipartUpload, error) {
	if layout == nil {
		return nil, fmt.Errorf("presignd returned no part layout for the multipart upload %s", id)
	}
	size := info.Size()
	if layout.GetPartSizeBytes() <= 0 || layout.GetPartCount() < 1 || partCount(size, layout.GetPartSizeBytes()) != int64(layout.GetPartCount()) {
		return nil, fmt.Errorf("presignd's layout for %s (%d parts of %d bytes) does not fit the file's %d bytes", id, layout.GetPartCount(), layout.GetPartSizeBytes(), size)
	}
	alg := partChecksumName(layout.GetPartChecksumAlgorithm())
	if alg == "" && layout.GetPartChecksumAlgorithm() != presigndv1.ChecksumAlgorithm_CHECKSUM_ALGORITHM_UNSPECIFIED {
		return nil, fmt.Errorf("the upload %s binds %s part checksums, which this client cannot compute", id, layout.GetPartChecksumAlgorithm())
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = max(parallel, 2)
	transport.ResponseHeaderTimeout = 2 * time.Minute
	return &multipartUpload{
		c: c, http: &http.Client{Transport: transport}, f: f, path: path, info: info, id: id,
		partSize: layout.GetPartSizeBytes(), partCount: layout.GetPartCount(), alg: alg, noETag: layout.GetPartsWithoutEtag(),
		parallel: parallel, targets: map[int32]*presigndv1.PartTarget{},
	}, nil
}

// newState returns the resume state of this upload, with no part sent.
func (u *multipartUpload) newState(server, category, absPath string) *uploadState {
	return &uploadState{
		Version: uploadStateVersion, Server: server, Category: category, Path: absPath,
		Size: u.info.Size(), ModTime: u.info.ModTime().UnixNano(), FileID: u.id,
		PartSize: u.partSize, PartCount: u.partCount, PartChecksum: u.alg,
		Parts: map[int32]statePart{},
	}
}

// interruptedError reports an upload stopped before it completed, which
// running the same command again resumes.
type interruptedError struct {
	path        string
	held, total int32
	resumable   bool
	cause       error
}

func (e *interruptedError) Error() string {
	msg := fmt.Sprintf("%s: %d of %d parts uploaded", e.cause, e.held, e.total)
	if e.resumable {
		msg += "; run the same command again to resume"
	}
	return msg
}

func (e *interruptedError) Unwrap() error { return e.cause }

// run sends every part not in held (parts storage already holds, checked),
// then completes the upload and returns the file, READY or FAILED. It
// stops at the first part that fails maxPartAttempts times, or when ctx
// ends, keeping the state for a later run.
func (u *multipartUpload) run(ctx context.Context, held map[int32]statePart, first []*presigndv1.PartTarget) (*presigndv1.File, error) {
	parts := make(map[int32]statePart, u.partCount)
	for n, p := range held {
		parts[n] = p
	}
	u.pos = map[int32]int{}
	for n := int32(1); n <= u.partCount; n++ {
		if _, ok := parts[n]; !ok {
			u.pos[n] = len(u.order)
			u.order = append(u.order, n)
		}
	}
	for _, t := range first {
		if _, ok := u.pos[t.GetPartNumber()]; ok {
			u.targets[t.GetPartNumber()] = t
		}
	}

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	jobs := make(chan int32)
	var (
		wg     sync.WaitGroup
		partMu sync.Mutex
	)
	for range min(u.parallel, len(u.order)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range jobs {
				p, err := u.sendPart(runCtx, n)
				if err != nil {
					cancel(err)
					return
				}
				partMu.Lock()
				parts[n] = p
				partMu.Unlock()
				u.record(n, p)
			}
		}()
	}
feed:
	for _, n := range u.order {
		select {
		case jobs <- n:
		case <-runCtx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	u.bar.finish()
	u.flushState()
	if err := context.Cause(runCtx); err != nil {
		if ctx.Err() != nil {
			err = errors.New("interrupted")
		}
		return nil, &interruptedError{path: u.path, held: int32(len(parts)), total: u.partCount, resumable: u.statePath != "" && u.saveErr == nil, cause: err}
	}

	// A file changed since the upload began is not completed: its parts
	// may mix old and new bytes.
	if now, err := u.f.Stat(); err != nil || now.Size() != u.info.Size() || !now.ModTime().Equal(u.info.ModTime()) {
		return nil, fmt.Errorf("%s changed while it was being uploaded; run the same command again to start over", u.path)
	}
	// Parts without ETags (Azure Blob) are not named: CompleteUpload then
	// takes those storage holds, each checked for its exact size.
	req := &presigndv1.CompleteUploadRequest{FileId: u.id}
	for n := int32(1); n <= u.partCount && !u.noETag; n++ {
		p := parts[n]
		req.Parts = append(req.Parts, &presigndv1.CompletedPart{PartNumber: n, Etag: p.ETag, Checksum: p.Checksum})
	}
	done := &presigndv1.CompleteUploadResponse{}
	err := retryCall(ctx, func() error {
		return u.c.call(ctx, http.MethodPost, "/v1/files/"+url.PathEscape(u.id)+":complete", req, done)
	})
	if err != nil && ctx.Err() != nil {
		return nil, &interruptedError{path: u.path, held: u.partCount, total: u.partCount, resumable: u.statePath != "" && u.saveErr == nil, cause: errors.New("interrupted while completing")}
	}
	if err != nil {
		return nil, err
	}
	return done.GetFile(), nil
}

// sendPart sends part n until storage takes it, at most maxPartAttempts
// times, with a fresh target after a failure, and returns its ETag (and
// checksum, when parts bind one).
func (u *multipartUpload) sendPart(ctx context.Context, n int32) (statePart, error) {
	offset, length := partSpan(n, u.info.Size(), u.partSize)
	var sum string
	if u.alg != "" {
		var err error
		if sum, err = u.partChecksum(n); err != nil {
			return statePart{}, err
		}
	}
	var lastErr error
	for attempt := 1; attempt <= maxPartAttempts; attempt++ {
		if attempt > 1 {
			if err := sleepCtx(ctx, backoff(attempt)); err != nil {
				return statePart{}, err
			}
		}
		t, err := u.target(ctx, n, sum, attempt > 1)
		if err != nil {
			if ctx.Err() != nil {
				return statePart{}, context.Cause(ctx)
			}
			if !retryable(err) {
				return statePart{}, fmt.Errorf("sign part %d: %w", n, err)
			}
			lastErr = err
			continue
		}
		if t.GetSizeBytes() != length {
			return statePart{}, fmt.Errorf("presignd signed part %d for %d bytes; the file's part %d has %d", n, t.GetSizeBytes(), n, length)
		}
		etag, err := u.put(ctx, t, offset, length)
		if err == nil {
			return statePart{ETag: etag, Checksum: sum}, nil
		}
		if ctx.Err() != nil {
			return statePart{}, context.Cause(ctx)
		}
		lastErr = err
	}
	return statePart{}, fmt.Errorf("part %d of %d failed %d times: %w", n, u.partCount, maxPartAttempts, lastErr)
}

// partChecksum returns the base64 checksum of part n in the upload's part
// checksum algorithm, read from the file.
func (u *multipartUpload) partChecksum(n int32) (string, error) {
	offset, length := partSpan(n, u.info.Size(), u.partSize)
	h := partChecksums[u.alg].new()
	if _, err := io.Copy(h, io.NewSectionReader(u.f, offset, length)); err != nil {
		return "", fmt.Errorf("read part %d of %s: %w", n, u.path, err)
	}
	return base64.StdEncoding.EncodeToString(h.Sum(nil)), nil
}

// target returns a target for part n: one signed earlier that still lives
// (unless fresh), else a newly signed one. Parts without a checksum are
// signed in batches: n and the next parts of the run that have no target.
func (u *multipartUpload) target(ctx context.Context, n int32, sum string, fresh bool) (*presigndv1.PartTarget, error) {
	u.signMu.Lock()
	defer u.signMu.Unlock()
	if t := u.targets[n]; t != nil {
		delete(u.targets, n)
		if !fresh && usable(t) {
			return t, nil
		}
	}
	req := &presigndv1.SignPartsRequest{FileId: u.id, PartNumbers: []int32{n}}
	if u.alg != "" {
		req.PartChecksums = map[int32]string{n: sum}
	} else {
		for i := u.pos[n] + 1; i < len(u.order) && len(req.PartNumbers) < signBatch; i++ {
			if t := u.targets[u.order[i]]; t == nil || !usable(t) {
				req.PartNumbers = append(req.PartNumbers, u.order[i])
			}
		}
	}
	resp := &presigndv1.SignPartsResponse{}
	if err := u.c.call(ctx, http.MethodPost, "/v1/files/"+url.PathEscape(u.id)+"/parts:sign", req, resp); err != nil {
		return nil, err
	}
	var mine *presigndv1.PartTarget
	for _, t := range resp.GetParts() {
		switch _, asked := u.pos[t.GetPartNumber()]; {
		case t.GetPartNumber() == n:
			mine = t
		case asked:
			u.targets[t.GetPartNumber()] = t
		}
	}
	if mine == nil || mine.GetUrl() == "" {
		return nil, fmt.Errorf("presignd signed no target for part %d", n)
	}
	return mine, nil
}

// usable reports whether a target lives long enough to start a PUT.
func usable(t *presigndv1.PartTarget) bool {
	return t.GetExpireTime() == nil || time.Until(t.GetExpireTime().AsTime()) > minTargetLife
}

// put sends length bytes of the file at offset to a part target and
// returns the ETag storage answered with ("" where parts have none). The
// progress bar counts the bytes as they go, and takes them back when the
// PUT fails.
func (u *multipartUpload) put(ctx context.Context, t *presigndv1.PartTarget, offset, length int64) (string, error) {
	body := &countingReader{r: io.NewSectionReader(u.f, offset, length), bar: u.bar, sent: &u.sent}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, t.GetUrl(), body)
	if err != nil {
		return "", fmt.Errorf("part %d: %w", t.GetPartNumber(), err)
	}
	req.ContentLength = length
	for k, v := range t.GetHeaders() {
		switch {
		case strings.EqualFold(k, "Host"):
			req.Host = v
		case strings.EqualFold(k, "Content-Length"):
		default:
			req.Header.Set(k, v)
		}
	}
	resp, err := u.http.Do(req)
	if err != nil {
		u.bar.add(-body.n.Load())
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		u.bar.add(-body.n.Load())
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return "", fmt.Errorf("storage answered part %d with %s: %s", t.GetPartNumber(), resp.Status, strings.TrimSpace(string(msg)))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	etag := resp.Header.Get("ETag")
	if etag == "" && !u.noETag {
		u.bar.add(-body.n.Load())
		return "", fmt.Errorf("storage answered part %d without an ETag (does its CORS setup expose it?)", t.GetPartNumber())
	}
	return etag, nil
}

// countingReader counts what is read through it into a progress bar and
// a total.
type countingReader struct {
	r    io.Reader
	bar  *progress
	sent *atomic.Int64
	n    atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.n.Add(int64(n))
		c.sent.Add(int64(n))
		c.bar.add(int64(n))
	}
	return n, err
}

// record notes a part storage took in the state, and writes the state at
// most every stateSaveEvery.
func (u *multipartUpload) record(n int32, p statePart) {
	u.stateMu.Lock()
	defer u.stateMu.Unlock()
	if u.state == nil {
		return
	}
	u.state.Parts[n] = p
	if time.Since(u.savedAt) >= stateSaveEvery {
		u.saveLocked()
	}
}

// flushState writes the state now.
func (u *multipartUpload) flushState() {
	u.stateMu.Lock()
	defer u.stateMu.Unlock()
	if u.state != nil {
		u.saveLocked()
	}
}

func (u *multipartUpload) saveLocked() {
	if u.statePath == "" {
		return
	}
	u.savedAt = time.Now()
	if err := saveUploadState(u.statePath, u.state); err != nil && u.saveErr == nil {
		u.saveErr = err
	}
}

// retryable reports whether a failed presignd call may succeed when tried
// again: no answer at all, or an answer that says so (429, 5xx but 501).
func retryable(err error) bool {
	var apiErr *apiError
	if !errors.As(err, &apiErr) {
		return !errors.Is(err, context.Canceled)
	}
	switch apiErr.HTTPStatus {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// retryCall runs call until it succeeds, fails for good, or has failed
// maxPartAttempts times.
func retryCall(ctx context.Context, call func() error) error {
	var err error
	for attempt := 1; attempt <= maxPartAttempts; attempt++ {
		if attempt > 1 {
			if e := sleepCtx(ctx, backoff(attempt)); e != nil {
				return e
			}
		}
		if err = call(); err == nil || !retryable(err) || ctx.Err() != nil {
			return err
		}
	}
	return err
}

// backoffUnit is the first pause between attempts.
var backoffUnit = 500 * time.Millisecond

// backoff is the pause before attempt (from 2): backoffUnit doubling to at
// most 16 times it, with up to a quarter of jitter.
func backoff(attempt int) time.Duration {
	d := backoffUnit << min(attempt-2, 4)
	return d + rand.N(d/4+1)
}

// sleepCtx sleeps d, or returns the context's cause when it ends first.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// sameETag reports whether two ETags name the same part, ignoring the
// quotes and weak prefix that some storage adds in one place and not in
// another.
func sameETag(a, b string) bool {
	norm := func(s string) string { return strings.Trim(strings.TrimPrefix(strings.TrimSpace(s), "W/"), `"`) }
	return norm(a) == norm(b)
}

// resumeUpload continues the multipart upload that st describes when it
// still can. It returns the file and true when this run ended the upload
// (READY, or FAILED at completion); nil and false, with the state
// dropped, when the upload must start over (the file changed, or the
// upload is gone, expired or aborted); or an error that keeps the state.
func resumeUpload(ctx context.Context, c *restClient, f *os.File, info os.FileInfo, absPath string, st *uploadState, statePath string, o uploadOptions, stderr io.Writer, tty bool) (*presigndv1.File, bool, error) {
	note := func(format string, args ...any) {
		if tty {
			fmt.Fprintf(stderr, "note: "+format+"\n", args...)
		}
	}
	filePath := "/v1/files/" + url.PathEscape(st.FileID)
	if st.Server != c.base || st.Path != absPath || st.Category != o.category || st.Size != info.Size() || st.ModTime != info.ModTime().UnixNano() {
		// The parts held are another version of the file: give them up.
		err := c.call(ctx, http.MethodPost, filePath+":abort", &presigndv1.AbortUploadRequest{FileId: st.FileID}, &presigndv1.AbortUploadResponse{})
		if err != nil {
			note("%s changed since its upload %s began; starting over (aborting the old upload: %v)", o.path, st.FileID, err)
		} else {
			note("%s changed since its upload %s began; starting over", o.path, st.FileID)
		}
		return nil, false, removeUploadState(statePath)
	}
	got := &presigndv1.GetFileResponse{}
	err := c.call(ctx, http.MethodGet, filePath, nil, got)
	var apiErr *apiError
	if errors.As(err, &apiErr) && apiErr.HTTPStatus == http.StatusNotFound {
		note("the upload %s of %s is gone; starting over", st.FileID, o.path)
		return nil, false, removeUploadState(statePath)
	}
	if err != nil {
		return nil, false, err
	}
	file := got.GetFile()
	switch {
	case file.GetState() == presigndv1.FileState_FILE_STATE_READY && file.GetSizeBytes() == info.Size():
		// An earlier run completed it and stopped before it could say so.
		return file, true, nil
	case file.GetState() != presigndv1.FileState_FILE_STATE_PENDING || file.GetMultipart() == nil:
		note("the upload %s of %s is %s; starting over", st.FileID, o.path, stateName(file.GetState()))
		return nil, false, removeUploadState(statePath)
	case file.GetUploadExpireTime() != nil && time.Now().After(file.GetUploadExpireTime().AsTime()):
		// Its time is up, though the sweeper has not expired it yet.
		_ = c.call(ctx, http.MethodPost, filePath+":abort", &presigndv1.AbortUploadRequest{FileId: st.FileID}, &presigndv1.AbortUploadResponse{})
		note("the upload %s of %s expired; starting over", st.FileID, o.path)
		return nil, false, removeUploadState(statePath)
	}
	listed := &presigndv1.ListPartsResponse{}
	if err := c.call(ctx, http.MethodGet, filePath+"/parts", nil, listed); err != nil {
		return nil, false, err
	}
	layout := listed.GetMultipart()
	if layout == nil {
		layout = file.GetMultipart()
	}
	u, err := newMultipartUpload(c, f, o.path, info, st.FileID, layout, o.parallel)
	if err != nil {
		return nil, false, err
	}
	held, err := u.verifyHeld(listed.GetParts(), st)
	if err != nil {
		return nil, false, err
	}
	u.state, u.statePath = u.newState(st.Server, st.Category, absPath), statePath
	var heldBytes int64
	for n, p := range held {
		u.state.Parts[n] = p
		_, length := partSpan(n, info.Size(), u.partSize)
		heldBytes += length
	}
	u.flushState()
	note("resuming the upload of %s as %s: %d of %d parts already uploaded", o.path, st.FileID, len(held), u.partCount)
	u.bar = newProgress(stderr, tty, "uploading "+filepath.Base(o.path), info.Size())
	u.bar.add(heldBytes)
	done, err := u.run(ctx, held, nil)
	return done, err == nil, err
}

// verifyHeld returns the parts storage holds that this run can keep: of
// the part's exact size, with the ETag this client recorded for it (when
// it recorded one), and with the file's checksum of the part (when parts
// bind one, and storage reports it). Any other part is sent again; the
// later bytes win.
func (u *multipartUpload) verifyHeld(listed []*presigndv1.Part, st *uploadState) (map[int32]statePart, error) {
	held := map[int32]statePart{}
	for _, p := range listed {
		n := p.GetPartNumber()
		if n < 1 || n > u.partCount || (p.GetEtag() == "" && !u.noETag) {
			continue
		}
		if _, length := partSpan(n, u.info.Size(), u.partSize); p.GetSizeBytes() != length {
			continue
		}
		if rec, ok := st.Parts[n]; ok && !sameETag(rec.ETag, p.GetEtag()) {
			continue
		}
		var sum string
		if u.alg != "" {
			var err error
			if sum, err = u.partChecksum(n); err != nil {
				return nil, err
			}
			if p.GetChecksum() != "" && p.GetChecksum() != sum {
				continue
			}
		}
		held[n] = statePart{ETag: p.GetEtag(), Checksum: sum}
	}
	return held, nil
}
