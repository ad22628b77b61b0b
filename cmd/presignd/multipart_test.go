package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	presigndv1 "github.com/presignd/presignd/gen/presignd/v1"
)

// fakePresignd answers the REST calls of a multipart upload as the
// contract says, and stores parts PUT to its storage URLs, so that the
// client's part scheduling, retries and resume can be driven to every
// case; the e2e tests run the same flows against the real server.
type fakePresignd struct {
	t        *testing.T
	srv      *httptest.Server
	partSize int64
	alg      presigndv1.ChecksumAlgorithm // part checksum the layout binds

	mu        sync.Mutex
	files     map[string]*presigndv1.File
	checksum  map[string]string           // whole-file SHA-256 declared
	parts     map[string]map[int32][]byte // held parts by file
	etags     map[string]map[int32]string
	failPart  map[int32]int // part number -> PUTs still to refuse with 500
	puts      map[int32]int // PUTs received by part number
	signCalls int
	aborted   []string
	onStored  func(held int) // after a part is stored, with the count held
	refuse    bool           // storage refuses every PUT (503)
	// targetGen is written into the part targets signed; PUTs to targets
	// of a generation below minGen are refused (403) and not counted, so
	// that a PUT of an interrupted run reaching storage late cannot count
	// as the next run's.
	targetGen, minGen int
	// onComplete, when set, runs as CompleteUpload arrives, which then
	// answers nothing until the client goes away.
	onComplete func()
}

func newFakePresignd(t *testing.T, partSize int64) *fakePresignd {
	unit := backoffUnit
	backoffUnit = time.Millisecond
	t.Cleanup(func() { backoffUnit = unit })
	f := &fakePresignd{
		t: t, partSize: partSize, files: map[string]*presigndv1.File{}, checksum: map[string]string{},
		parts: map[string]map[int32][]byte{}, etags: map[string]map[int32]string{},
		failPart: map[int32]int{}, puts: map[int32]int{},
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakePresignd) client() *restClient {
	return &restClient{base: f.srv.URL, key: "k", http: http.DefaultClient}
}

func (f *fakePresignd) reply(w http.ResponseWriter, m proto.Message) {
	raw, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
	if err != nil {
		f.t.Error(err)
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(raw)
}

func (f *fakePresignd) read(r *http.Request, m proto.Message) {
	raw, _ := io.ReadAll(r.Body)
	if err := protojson.Unmarshal(raw, m); err != nil {
		f.t.Errorf("%s %s: %v", r.Method, r.URL.Path, err)
	}
}

func (f *fakePresignd) layout(file *presigndv1.File) *presigndv1.MultipartLayout {
	return file.GetMultipart()
}

func (f *fakePresignd) target(file *presigndv1.File, n int32) *presigndv1.PartTarget {
	_, length := partSpan(n, file.GetSizeBytes(), f.partSize)
	return &presigndv1.PartTarget{
		PartNumber: n, SizeBytes: length, ExpireTime: timestamppb.New(time.Now().Add(time.Hour)),
		Url: fmt.Sprintf("%s/storage/%s/%d?gen=%d", f.srv.URL, file.GetFileId(), n, f.targetGen),
	}
}

func (f *fakePresignd) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	path := r.URL.Path
	switch {
	case r.Method == http.MethodPost && path == "/v1/uploads":
		req := &presigndv1.CreateUploadRequest{}
		f.read(r, req)
		id := fmt.Sprintf("file-%d", len(f.files)+1)
		layout := &presigndv1.MultipartLayout{PartSizeBytes: f.partSize, PartCount: int32(partCount(req.GetSizeBytes(), f.partSize)), PartChecksumAlgorithm: f.alg}
		if req.GetPartChecksumAlgorithm() != 0 {
			layout.PartChecksumAlgorithm = req.GetPartChecksumAlgorithm()
		}
		file := &presigndv1.File{FileId: id, SizeBytes: req.GetSizeBytes(), State: presigndv1.FileState_FILE_STATE_PENDING, Multipart: layout, ContentType: req.GetContentType()}
		f.files[id], f.checksum[id] = file, req.GetChecksum().GetValue()
		f.parts[id], f.etags[id] = map[int32][]byte{}, map[int32]string{}
		target := &presigndv1.UploadTarget{Method: presigndv1.UploadMethod_UPLOAD_METHOD_MULTIPART, Multipart: layout}
		if layout.GetPartChecksumAlgorithm() == 0 {
			for n := int32(1); n <= min(10, layout.GetPartCount()); n++ {
				target.Parts = append(target.Parts, f.target(file, n))
			}
		}
		f.reply(w, &presigndv1.CreateUploadResponse{File: file, UploadTarget: target})
	case strings.HasPrefix(path, "/v1/files/"):
		rest := strings.TrimPrefix(path, "/v1/files/")
		id, op := rest, ""
		if i := strings.IndexAny(rest, ":/"); i >= 0 {
			id, op = rest[:i], rest[i:]
		}
		file := f.files[id]
		if file == nil {
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"code":5,"message":"file not found"}`)
			return
		}
		switch op {
		case "":
			f.reply(w, &presigndv1.GetFileResponse{File: file})
		case "/parts:sign":
			f.signCalls++
			req := &presigndv1.SignPartsRequest{}
			f.read(r, req)
			resp := &presigndv1.SignPartsResponse{}
			for _, n := range req.GetPartNumbers() {
				if bound := file.GetMultipart().GetPartChecksumAlgorithm() != 0; bound != (req.GetPartChecksums()[n] != "") {
					f.t.Errorf("SignParts part %d: checksum %q with the layout binding %v", n, req.GetPartChecksums()[n], file.GetMultipart().GetPartChecksumAlgorithm())
				}
				resp.Parts = append(resp.Parts, f.target(file, n))
			}
			f.reply(w, resp)
		case "/parts":
			resp := &presigndv1.ListPartsResponse{Multipart: file.GetMultipart()}
			for n := int32(1); n <= file.GetMultipart().GetPartCount(); n++ {
				if b, ok := f.parts[id][n]; ok {
					resp.Parts = append(resp.Parts, &presigndv1.Part{PartNumber: n, SizeBytes: int64(len(b)), Etag: f.etags[id][n]})
				}
			}
			f.reply(w, resp)
		case ":abort":
			f.aborted = append(f.aborted, id)
			file.State = presigndv1.FileState_FILE_STATE_ABORTED
			f.reply(w, &presigndv1.AbortUploadResponse{File: file})
		case ":complete":
			if f.onComplete != nil {
				f.onComplete()
				_, _ = io.Copy(io.Discard, r.Body) // so that the server notices the client leave
				f.mu.Unlock()
				<-r.Context().Done()
				f.mu.Lock()
				return
			}
			req := &presigndv1.CompleteUploadRequest{}
			f.read(r, req)
			var whole []byte
			for i, p := range req.GetParts() {
				if p.GetPartNumber() != int32(i+1) || f.etags[id][p.GetPartNumber()] != p.GetEtag() {
					file.State, file.FailureReason = presigndv1.FileState_FILE_STATE_FAILED, fmt.Sprintf("part %d: etag %q", p.GetPartNumber(), p.GetEtag())
					f.reply(w, &presigndv1.CompleteUploadResponse{File: file})
					return
				}
				part := f.parts[id][p.GetPartNumber()]
				if alg := file.GetMultipart().GetPartChecksumAlgorithm(); alg != 0 {
					h := partChecksums[partChecksumName(alg)].new()
					h.Write(part)
					if want := base64.StdEncoding.EncodeToString(h.Sum(nil)); p.GetChecksum() != want {
						f.t.Errorf("CompleteUpload part %d: checksum %q, want %q", p.GetPartNumber(), p.GetChecksum(), want)
					}
				}
				whole = append(whole, part...)
			}
			sum := sha256.Sum256(whole)
			if len(req.GetParts()) != int(file.GetMultipart().GetPartCount()) || base64.StdEncoding.EncodeToString(sum[:]) != f.checksum[id] {
				file.State, file.FailureReason = presigndv1.FileState_FILE_STATE_FAILED, "checksum mismatch"
			} else {
				file.State = presigndv1.FileState_FILE_STATE_READY
			}
			f.reply(w, &presigndv1.CompleteUploadResponse{File: file})
		default:
			http.NotFound(w, r)
		}
	case r.Method == http.MethodPut && strings.HasPrefix(path, "/storage/"):
		var id string
		var n int32
		if parts := strings.Split(strings.TrimPrefix(path, "/storage/"), "/"); len(parts) == 2 {
			id = parts[0]
			v, _ := strconv.Atoi(parts[1])
			n = int32(v)
		}
		if gen, _ := strconv.Atoi(r.URL.Query().Get("gen")); gen < f.minGen {
			http.Error(w, "the target has expired", http.StatusForbidden)
			return
		}
		f.puts[n]++
		if f.refuse {
			http.Error(w, "storage is down", http.StatusServiceUnavailable)
			return
		}
		if f.failPart[n] > 0 {
			f.failPart[n]--
			http.Error(w, "injected failure", http.StatusInternalServerError)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		if _, length := partSpan(n, f.files[id].GetSizeBytes(), f.partSize); int64(len(body)) != length {
			http.Error(w, "wrong size", http.StatusBadRequest)
			return
		}
		sum := md5.Sum(body)
		f.parts[id][n], f.etags[id][n] = body, `"`+hex.EncodeToString(sum[:])+`"`
		w.Header().Set("ETag", f.etags[id][n])
		if f.onStored != nil {
			f.onStored(len(f.parts[id]))
		}
	default:
		http.NotFound(w, r)
	}
}

// multipartFixture writes a random file of size bytes into a fresh
// directory, with the user's cache directory pointed into it.
func multipartFixture(t *testing.T, size int) (path string, data []byte) {
	dir := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", filepath.Join(dir, "cache"))
	t.Setenv("HOME", dir)
	data = make([]byte, size)
	_, _ = rand.Read(data)
	path = filepath.Join(dir, "big.bin")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, data
}

func stateFiles(t *testing.T) []string {
	dir, err := uploadStateDir()
	if err != nil {
		t.Fatal(err)
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	return matches
}

func upload(ctx context.Context, f *fakePresignd, path string, extra ...func(*uploadOptions)) (string, error) {
	o := uploadOptions{path: path, parallel: 4}
	for _, e := range extra {
		e(&o)
	}
	var stdout, stderr bytes.Buffer
	err := runUpload(ctx, f.client(), o, &stdout, &stderr)
	if stderr.Len() > 0 {
		f.t.Errorf("stderr off a terminal: %s", stderr.String())
	}
	return strings.TrimSpace(stdout.String()), err
}

func (f *fakePresignd) assembled(id string) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	var whole []byte
	for n := int32(1); n <= f.files[id].GetMultipart().GetPartCount(); n++ {
		whole = append(whole, f.parts[id][n]...)
	}
	return whole
}

func TestMultipartUploadRetriesFailedPartsAndCompletes(t *testing.T) {
	path, data := multipartFixture(t, 25*1024+7)
	f := newFakePresignd(t, 1024) // 26 parts: the first 10 signed by CreateUpload
	f.failPart[3], f.failPart[17] = 2, 1
	id, err := upload(context.Background(), f, path)
	if err != nil {
		t.Fatal(err)
	}
	if f.files[id].GetState() != presigndv1.FileState_FILE_STATE_READY || !bytes.Equal(f.assembled(id), data) {
		t.Fatalf("%s is %v; storage holds %d bytes of %d", id, f.files[id].GetState(), len(f.assembled(id)), len(data))
	}
	if f.puts[3] != 3 || f.puts[17] != 2 || f.puts[1] != 1 {
		t.Errorf("PUTs of parts 1, 3, 17: %d, %d, %d; want 1, 3 (two refused), 2 (one refused)", f.puts[1], f.puts[3], f.puts[17])
	}
	// Parts 11-26 in batches, plus one fresh target per retry.
	if f.signCalls > 4+3 {
		t.Errorf("%d SignParts calls for 16 unsigned parts and 3 retries; want them batched", f.signCalls)
	}
	if s := stateFiles(t); len(s) != 0 {
		t.Errorf("state left after a completed upload: %v", s)
	}
}

func TestMultipartUploadGivesUpOnAPartThatKeepsFailingAndKeepsItsState(t *testing.T) {
	path, _ := multipartFixture(t, 4*1024)
	f := newFakePresignd(t, 1024)
	f.failPart[2] = maxPartAttempts
	_, err := upload(context.Background(), f, path, func(o *uploadOptions) { o.parallel = 1 })
	if err == nil || !strings.Contains(err.Error(), "part 2 of 4 failed 5 times") || !strings.Contains(err.Error(), "run the same command again to resume") {
		t.Fatalf("err %v, want part 2 named and a resume hint", err)
	}
	if s := stateFiles(t); len(s) != 1 {
		t.Fatalf("state files %v, want one", s)
	}
	// The next run sends only what storage lacks.
	for n := range f.puts {
		f.puts[n] = 0
	}
	id, err := upload(context.Background(), f, path, func(o *uploadOptions) { o.parallel = 1 })
	if err != nil {
		t.Fatal(err)
	}
	if id != "file-1" || f.puts[1] != 0 || f.puts[2] != 1 {
		t.Errorf("resumed as %s with PUTs %v; want file-1, part 1 kept, part 2 sent once", id, f.puts)
	}
}

func TestInterruptedMultipartUploadResumesWithOnlyTheMissingParts(t *testing.T) {
	path, data := multipartFixture(t, 12*1024)
	f := newFakePresignd(t, 1024)
	ctx, cancel := context.WithCancel(context.Background())
	f.onStored = func(held int) {
		if held == 5 {
			cancel() // Ctrl-C
			f.refuse = true
		}
	}
	_, err := upload(ctx, f, path, func(o *uploadOptions) { o.parallel = 2 })
	if err == nil || !strings.Contains(err.Error(), "interrupted") || !strings.Contains(err.Error(), "run the same command again to resume") {
		t.Fatalf("err %v, want an interruption with a resume hint", err)
	}
	f.mu.Lock()
	f.onStored, f.refuse = nil, false
	// The first run's targets expire: a PUT of it still on its way is
	// refused, neither stored nor counted.
	f.targetGen++
	f.minGen = f.targetGen
	held := len(f.parts["file-1"])
	f.mu.Unlock()
	// A held part of the wrong size, or with another ETag than the one
	// this client recorded (another client's bytes), is sent again.
	// The ETag check needs a part the state recorded: the part whose PUT
	// was cut off by the interruption is held but was never recorded.
	st, err := loadUploadState(stateFiles(t)[0])
	if err != nil || st == nil {
		t.Fatalf("state after the interruption: %v, %v", st, err)
	}
	short, other := int32(0), int32(0)
	for n := int32(1); n <= 12; n++ {
		_, held := f.parts["file-1"][n]
		_, recorded := st.Parts[n]
		switch {
		case held && recorded && other == 0:
			other = n
		case held && short == 0:
			short = n
		}
	}
	if short == 0 || other == 0 {
		t.Fatalf("storage holds %d parts, the state records %d: want two held, one of them recorded", held, len(st.Parts))
	}
	f.parts["file-1"][short] = []byte("short")
	f.etags["file-1"][other] = `"someone else's"`
	before := map[int32]int{}
	f.mu.Lock()
	for n, c := range f.puts {
		before[n] = c
	}
	f.mu.Unlock()
	id, err := upload(context.Background(), f, path)
	if err != nil {
		t.Fatal(err)
	}
	if id != "file-1" || !bytes.Equal(f.assembled(id), data) || f.files[id].GetState() != presigndv1.FileState_FILE_STATE_READY {
		t.Fatalf("resumed as %s (%v), want file-1 READY with the file's bytes", id, f.files[id].GetState())
	}
	resent := 0
	for n := int32(1); n <= 12; n++ {
		resent += f.puts[n] - before[n]
	}
	if want := 12 - held + 2; resent != want {
		t.Errorf("the second run sent %d parts; storage held %d of 12 (one short, one another's): want %d", resent, held, want)
	}
}

func TestChangedFileStartsOverAndAbortsTheOldUpload(t *testing.T) {
	path, _ := multipartFixture(t, 6*1024)
	f := newFakePresignd(t, 1024)
	f.failPart[6] = maxPartAttempts
	if _, err := upload(context.Background(), f, path, func(o *uploadOptions) { o.parallel = 1 }); err == nil {
		t.Fatal("want the first run to fail on part 6")
	}
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	id, err := upload(context.Background(), f, path)
	if err != nil {
		t.Fatal(err)
	}
	if id != "file-2" || len(f.aborted) != 1 || f.aborted[0] != "file-1" {
		t.Errorf("after the file changed: uploaded as %s, aborted %v; want file-2 and file-1 aborted", id, f.aborted)
	}
}

func TestBoundPartChecksumsAreSentToSignPartsAndComplete(t *testing.T) {
	path, data := multipartFixture(t, 3*1024+1)
	f := newFakePresignd(t, 1024)
	id, err := upload(context.Background(), f, path, func(o *uploadOptions) { o.partChecksum = "crc32c" })
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f.assembled(id), data) || f.signCalls != 4 {
		t.Errorf("%d SignParts calls, want one per part (each with its checksum)", f.signCalls)
	}
}

func TestCtrlCWhileCompletingKeepsTheStateAndSaysHowToResume(t *testing.T) {
	path, _ := multipartFixture(t, 3*1024)
	f := newFakePresignd(t, 1024)
	ctx, cancel := context.WithCancel(context.Background())
	f.onComplete = cancel
	_, err := upload(ctx, f, path)
	if err == nil || !strings.Contains(err.Error(), "interrupted while completing") || !strings.Contains(err.Error(), "run the same command again to resume") {
		t.Fatalf("err %v, want an interruption with a resume hint", err)
	}
	f.mu.Lock()
	f.onComplete = nil
	f.mu.Unlock()
	if id, err := upload(context.Background(), f, path); err != nil || id != "file-1" || f.puts[1] != 1 {
		t.Fatalf("resumed: %q, %v, part 1 sent %d times; want file-1 completed without sending a part again", id, err, f.puts[1])
	}
}

func TestAnUploadWhoseTimeIsUpStartsOver(t *testing.T) {
	path, data := multipartFixture(t, 4*1024)
	f := newFakePresignd(t, 1024)
	f.failPart[4] = maxPartAttempts
	if _, err := upload(context.Background(), f, path); err == nil {
		t.Fatal("want the first run to fail on part 4")
	}
	f.mu.Lock()
	f.files["file-1"].UploadExpireTime = timestamppb.New(time.Now().Add(-time.Second))
	f.mu.Unlock()
	id, err := upload(context.Background(), f, path)
	if err != nil {
		t.Fatal(err)
	}
	if id != "file-2" || len(f.aborted) != 1 || f.aborted[0] != "file-1" || !bytes.Equal(f.assembled(id), data) {
		t.Errorf("after the upload's time ran out: uploaded as %s, aborted %v; want file-2 and file-1 aborted", id, f.aborted)
	}
}
