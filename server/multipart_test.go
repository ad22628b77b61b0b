package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	presigndv1 "github.com/presignd/presignd/gen/presignd/v1"
	"github.com/presignd/presignd/policy"
	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/signer/local"
	"github.com/presignd/presignd/signer/signertest"
)

// mpPart is the part size of the multipart test categories.
const mpPart = testMinPartSize

// multipartCategory is a category of multipart uploads in parts of
// mpPart bytes, MULTIPART from 8 parts' worth.
func multipartCategory(name string) *policy.Category {
	c := policy.Default("local")
	c.Name = name
	c.URLTTL = time.Minute
	c.Multipart = policy.Multipart{Threshold: 8 * mpPart, PartSize: mpPart, UploadTTL: time.Hour}
	return c
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// createMultipart starts a MULTIPART upload of size bytes in category.
func (e *testEnv) createMultipart(t *testing.T, ctx context.Context, category string, size int64, partChecksum presigndv1.ChecksumAlgorithm) *presigndv1.CreateUploadResponse {
	t.Helper()
	resp, err := e.client.CreateUpload(ctx, &presigndv1.CreateUploadRequest{
		Category: category, Filename: "big.bin", ContentType: "application/octet-stream", SizeBytes: size,
		Method: presigndv1.UploadMethod_UPLOAD_METHOD_MULTIPART, PartChecksumAlgorithm: partChecksum,
	})
	if err != nil {
		t.Fatalf("CreateUpload MULTIPART: %v", err)
	}
	return resp
}

// putPart sends body to a part target and returns the status and ETag.
func putPart(t *testing.T, pt *presigndv1.PartTarget, body []byte) (int, string) {
	t.Helper()
	resp, err := signertest.Upload(context.Background(), http.DefaultClient, signer.UploadTarget{Method: http.MethodPut, URL: pt.GetUrl(), Headers: pt.GetHeaders()}, body)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("ETag")
}

// partOf returns the bytes of part n (from 1) of body in parts of size.
func partOf(body []byte, size int64, n int32) []byte {
	start := int64(n-1) * size
	return body[start:min(start+size, int64(len(body)))]
}

// signAndPut signs parts numbers of file and sends their bytes in
// parallel, in reverse order, and returns their ETags by number.
func (e *testEnv) signAndPut(t *testing.T, ctx context.Context, file *presigndv1.File, body []byte, numbers []int32) map[int32]string {
	t.Helper()
	signed, err := e.client.SignParts(ctx, &presigndv1.SignPartsRequest{FileId: file.GetFileId(), PartNumbers: numbers})
	if err != nil {
		t.Fatalf("SignParts(%v): %v", numbers, err)
	}
	parts := slices.Clone(signed.GetParts())
	slices.Reverse(parts)
	var (
		mu    sync.Mutex
		etags = map[int32]string{}
		wg    sync.WaitGroup
	)
	for _, pt := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, etag := putPart(t, pt, partOf(body, file.GetMultipart().GetPartSizeBytes(), pt.GetPartNumber()))
			if code/100 != 2 || etag == "" {
				t.Errorf("PUT part %d: status %d, ETag %q", pt.GetPartNumber(), code, etag)
			}
			mu.Lock()
			etags[pt.GetPartNumber()] = etag
			mu.Unlock()
		}()
	}
	wg.Wait()
	return etags
}

// downloadFile returns the bytes of a READY file.
func (e *testEnv) downloadFile(t *testing.T, ctx context.Context, id string) []byte {
	t.Helper()
	d, err := e.client.CreateDownloadUrl(ctx, &presigndv1.CreateDownloadUrlRequest{FileId: id})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(d.GetUrl())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("download: %d %v", resp.StatusCode, err)
	}
	return b
}

func numbers(from, to int32) []int32 {
	var out []int32
	for n := from; n <= to; n++ {
		out = append(out, n)
	}
	return out
}

func TestMultipartUploadBecomesReady(t *testing.T) {
	env := newTestEnv(t, multipartCategory("big"))
	ctx := env.as("acme")
	body := randomBytes(t, 3*mpPart+500)
	created := env.createMultipart(t, ctx, "big", int64(len(body)), 0)
	f, target := created.GetFile(), created.GetUploadTarget()
	if target.GetMethod() != presigndv1.UploadMethod_UPLOAD_METHOD_MULTIPART || target.GetUrl() != "" {
		t.Fatalf("target = %v, want MULTIPART without url", target)
	}
	layout := target.GetMultipart()
	if layout.GetPartSizeBytes() != mpPart || layout.GetPartCount() != 4 || f.GetMultipart().GetPartCount() != 4 {
		t.Fatalf("layout = %v (file's %v), want 4 parts of %d", layout, f.GetMultipart(), mpPart)
	}
	if got := target.GetExpireTime().AsTime(); got.Sub(f.GetCreateTime().AsTime()) != time.Hour || !got.Equal(f.GetUploadExpireTime().AsTime()) {
		t.Errorf("target expires %v, file created %v and expires %v: want created + upload_ttl", got, f.GetCreateTime().AsTime(), f.GetUploadExpireTime().AsTime())
	}
	var sizes []int64
	for i, pt := range target.GetParts() {
		if pt.GetPartNumber() != int32(i+1) || pt.GetUrl() == "" {
			t.Fatalf("first part targets: %v", target.GetParts())
		}
		if pt.GetExpireTime().AsTime().After(time.Now().Add(time.Minute + time.Second)) {
			t.Errorf("part %d expires at %v, after the category's url_ttl", pt.GetPartNumber(), pt.GetExpireTime().AsTime())
		}
		sizes = append(sizes, pt.GetSizeBytes())
	}
	if !slices.Equal(sizes, []int64{mpPart, mpPart, mpPart, 500}) {
		t.Fatalf("part sizes = %v, want three of %d and 500", sizes, mpPart)
	}
	// The first targets work as given; the others come from SignParts.
	if code, _ := putPart(t, target.GetParts()[0], partOf(body, mpPart, 1)); code/100 != 2 {
		t.Fatalf("PUT part 1 from CreateUpload's target: %d", code)
	}
	env.signAndPut(t, ctx, f, body, []int32{4, 2, 3})
	listed, err := env.client.ListParts(ctx, &presigndv1.ListPartsRequest{FileId: f.GetFileId()})
	if err != nil {
		t.Fatal(err)
	}
	var got []int32
	for _, p := range listed.GetParts() {
		got = append(got, p.GetPartNumber())
		if p.GetEtag() == "" || p.GetSizeBytes() != int64(len(partOf(body, mpPart, p.GetPartNumber()))) {
			t.Errorf("listed part %v", p)
		}
	}
	if !slices.Equal(got, []int32{1, 2, 3, 4}) || listed.GetMultipart().GetPartCount() != 4 {
		t.Fatalf("ListParts = %v, layout %v", got, listed.GetMultipart())
	}
	done, err := env.client.CompleteUpload(ctx, &presigndv1.CompleteUploadRequest{FileId: f.GetFileId()})
	if err != nil {
		t.Fatal(err)
	}
	if done.GetFile().GetState() != presigndv1.FileState_FILE_STATE_READY || done.GetFile().GetSizeBytes() != int64(len(body)) {
		t.Fatalf("completed file = %v", done.GetFile())
	}
	if sha256.Sum256(env.downloadFile(t, ctx, f.GetFileId())) != sha256.Sum256(body) {
		t.Fatal("the downloaded object differs from the parts sent")
	}
	// Completing again answers the READY file; the parts calls refuse it.
	again, err := env.client.CompleteUpload(ctx, &presigndv1.CompleteUploadRequest{FileId: f.GetFileId()})
	if err != nil || again.GetFile().GetState() != presigndv1.FileState_FILE_STATE_READY || !again.GetFile().GetCompleteTime().AsTime().Equal(done.GetFile().GetCompleteTime().AsTime()) {
		t.Fatalf("second CompleteUpload = %v, %v", again.GetFile(), err)
	}
	_, err = env.client.SignParts(ctx, &presigndv1.SignPartsRequest{FileId: f.GetFileId(), PartNumbers: []int32{1}})
	wantCode(t, err, codes.FailedPrecondition)
	_, err = env.client.ListParts(ctx, &presigndv1.ListPartsRequest{FileId: f.GetFileId()})
	wantCode(t, err, codes.FailedPrecondition)
	_, err = env.client.AbortUpload(ctx, &presigndv1.AbortUploadRequest{FileId: f.GetFileId()})
	wantCode(t, err, codes.FailedPrecondition)
}

func TestCompleteUploadWithTheParts(t *testing.T) {
	env := newTestEnv(t, multipartCategory("big"))
	ctx := env.as("acme")
	body := randomBytes(t, 2*mpPart+1)
	start := func(t *testing.T) (*presigndv1.File, map[int32]string) {
		f := env.createMultipart(t, ctx, "big", int64(len(body)), 0).GetFile()
		return f, env.signAndPut(t, ctx, f, body, numbers(1, 3))
	}
	t.Run("the parts with their ETags complete it", func(t *testing.T) {
		f, etags := start(t)
		done, err := env.client.CompleteUpload(ctx, &presigndv1.CompleteUploadRequest{FileId: f.GetFileId(), Parts: []*presigndv1.CompletedPart{
			{PartNumber: 1, Etag: etags[1]}, {PartNumber: 2, Etag: etags[2]}, {PartNumber: 3, Etag: etags[3]},
		}})
		if err != nil || done.GetFile().GetState() != presigndv1.FileState_FILE_STATE_READY {
			t.Fatalf("CompleteUpload = %v, %v", done.GetFile(), err)
		}
		if !bytes.Equal(env.downloadFile(t, ctx, f.GetFileId()), body) {
			t.Fatal("the object differs from the parts")
		}
	})
	t.Run("a stale ETag fails it naming the part", func(t *testing.T) {
		f, etags := start(t)
		done, err := env.client.CompleteUpload(ctx, &presigndv1.CompleteUploadRequest{FileId: f.GetFileId(), Parts: []*presigndv1.CompletedPart{
			{PartNumber: 1, Etag: etags[1]}, {PartNumber: 2, Etag: `"0123456789abcdef"`}, {PartNumber: 3, Etag: etags[3]},
		}})
		if err != nil || done.GetFile().GetState() != presigndv1.FileState_FILE_STATE_FAILED || !strings.Contains(done.GetFile().GetFailureReason(), "part 2 of 3") {
			t.Fatalf("CompleteUpload = %v, %v; want FAILED naming part 2", done.GetFile(), err)
		}
	})
	t.Run("a part left out fails it naming the part", func(t *testing.T) {
		f, etags := start(t)
		done, err := env.client.CompleteUpload(ctx, &presigndv1.CompleteUploadRequest{FileId: f.GetFileId(), Parts: []*presigndv1.CompletedPart{
			{PartNumber: 1, Etag: etags[1]}, {PartNumber: 3, Etag: etags[3]},
		}})
		if err != nil || done.GetFile().GetState() != presigndv1.FileState_FILE_STATE_FAILED || !strings.Contains(done.GetFile().GetFailureReason(), "part 2 of 3") {
			t.Fatalf("CompleteUpload = %v, %v; want FAILED naming part 2", done.GetFile(), err)
		}
	})
}

func TestCompleteUploadRefusesBadParts(t *testing.T) {
	env := newTestEnv(t, multipartCategory("big"))
	ctx := env.as("acme")
	f := env.createMultipart(t, ctx, "big", 3*mpPart, 0).GetFile()
	put := env.createReady(t, "acme", "small.txt", []byte("small"))
	tests := []struct {
		name   string
		id     string
		parts  []*presigndv1.CompletedPart
		fields []string
	}{
		{"parts out of order", f.GetFileId(), []*presigndv1.CompletedPart{{PartNumber: 2, Etag: "a"}, {PartNumber: 1, Etag: "b"}}, []string{"parts[1].part_number"}},
		{"a part twice", f.GetFileId(), []*presigndv1.CompletedPart{{PartNumber: 1, Etag: "a"}, {PartNumber: 1, Etag: "b"}}, []string{"parts[1].part_number"}},
		{"a part beyond the last", f.GetFileId(), []*presigndv1.CompletedPart{{PartNumber: 4, Etag: "a"}}, []string{"parts[0].part_number"}},
		{"part 0", f.GetFileId(), []*presigndv1.CompletedPart{{PartNumber: 0, Etag: "a"}}, []string{"parts[0].part_number"}},
		{"a part without ETag", f.GetFileId(), []*presigndv1.CompletedPart{{PartNumber: 1}}, []string{"parts[0].etag"}},
		{"a checksum the upload does not bind", f.GetFileId(), []*presigndv1.CompletedPart{{PartNumber: 1, Etag: "a", Checksum: "AAAAAA=="}}, []string{"parts[0].checksum"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := env.client.CompleteUpload(ctx, &presigndv1.CompleteUploadRequest{FileId: tt.id, Parts: tt.parts})
			if got := violations(t, err); !slices.Equal(got, tt.fields) {
				t.Fatalf("violations = %v, want %v (%v)", got, tt.fields, err)
			}
		})
	}
	// A READY single upload answers as it is, whatever the parts.
	done, err := env.client.CompleteUpload(ctx, &presigndv1.CompleteUploadRequest{FileId: put.GetFileId(), Parts: []*presigndv1.CompletedPart{{PartNumber: 1, Etag: "a"}}})
	if err != nil || done.GetFile().GetState() != presigndv1.FileState_FILE_STATE_READY {
		t.Fatalf("CompleteUpload of a READY PUT = %v, %v", done, err)
	}
	// The multipart upload is still PENDING and whole after the refusals.
	if got, err := env.client.GetFile(ctx, &presigndv1.GetFileRequest{FileId: f.GetFileId()}); err != nil || got.GetFile().GetState() != presigndv1.FileState_FILE_STATE_PENDING {
		t.Fatalf("file after refused completions = %v, %v", got, err)
	}
}

func TestCompleteUploadWithAMissingPartFails(t *testing.T) {
	env := newTestEnv(t, multipartCategory("big"))
	ctx := env.as("acme")
	body := randomBytes(t, 3*mpPart)
	f := env.createMultipart(t, ctx, "big", int64(len(body)), 0).GetFile()
	env.signAndPut(t, ctx, f, body, []int32{1, 3})
	done, err := env.client.CompleteUpload(ctx, &presigndv1.CompleteUploadRequest{FileId: f.GetFileId()})
	if err != nil {
		t.Fatal(err)
	}
	if done.GetFile().GetState() != presigndv1.FileState_FILE_STATE_FAILED || done.GetFile().GetFailureReason() != "part 2 of 3 was never uploaded" {
		t.Fatalf("file = %v, want FAILED: part 2 of 3 was never uploaded", done.GetFile())
	}
	// The backend gave the upload up, and no object was made.
	stored, err := env.store.GetFile(context.Background(), "acme", f.GetFileId())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.local.ListParts(context.Background(), stored.Key, stored.MultipartUploadID); !errors.Is(err, signer.ErrNotFound) {
		t.Errorf("backend ListParts after the failure = %v, want ErrNotFound", err)
	}
	if _, err := env.local.Stat(context.Background(), stored.Key); !errors.Is(err, signer.ErrNotFound) {
		t.Errorf("Stat after the failure = %v, want ErrNotFound", err)
	}
}

func TestSignPartsRefusesBadInput(t *testing.T) {
	env := newTestEnv(t, multipartCategory("big"))
	ctx := env.as("acme")
	plain := env.createMultipart(t, ctx, "big", 3*mpPart, 0).GetFile().GetFileId()
	bound := env.createMultipart(t, ctx, "big", 3*mpPart, presigndv1.ChecksumAlgorithm_CHECKSUM_ALGORITHM_SHA256).GetFile().GetFileId()
	crc := env.createMultipart(t, ctx, "big", 3*mpPart, presigndv1.ChecksumAlgorithm_CHECKSUM_ALGORITHM_CRC32C).GetFile().GetFileId()
	sum := sha256.Sum256(nil)
	good := base64.StdEncoding.EncodeToString(sum[:])
	tests := []struct {
		name      string
		id        string
		numbers   []int32
		checksums map[int32]string
		fields    []string
	}{
		{"no part numbers", plain, nil, nil, []string{"part_numbers"}},
		{"part 0", plain, []int32{0}, nil, []string{"part_numbers[0]"}},
		{"a negative part", plain, []int32{1, -2}, nil, []string{"part_numbers[1]"}},
		{"a part beyond the upload's last", plain, []int32{1, 4}, nil, []string{"part_numbers[1]"}},
		{"a part beyond any upload's last", plain, []int32{10001}, nil, []string{"part_numbers[0]"}},
		{"a part twice", plain, []int32{2, 2}, nil, []string{"part_numbers"}},
		{"more than 1000 parts", plain, numbers(1, 1001), nil, []string{"part_numbers"}},
		{"checksums the upload does not bind", plain, []int32{1}, map[int32]string{1: good}, []string{"part_checksums"}},
		{"a missing checksum the upload binds", bound, []int32{1, 2}, map[int32]string{1: good}, []string{"part_checksums[2]"}},
		{"a checksum that is not base64", bound, []int32{1}, map[int32]string{1: "!!"}, []string{"part_checksums[1]"}},
		{"a checksum of the wrong length", bound, []int32{1}, map[int32]string{1: "AAAAAA=="}, []string{"part_checksums[1]"}},
		{"a SHA-256 for a CRC32C upload", crc, []int32{1}, map[int32]string{1: good}, []string{"part_checksums[1]"}},
		{"a checksum of a part not asked for", bound, []int32{1}, map[int32]string{1: good, 3: good}, []string{"part_checksums[3]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := env.client.SignParts(ctx, &presigndv1.SignPartsRequest{FileId: tt.id, PartNumbers: tt.numbers, PartChecksums: tt.checksums})
			if got := violations(t, err); !slices.Equal(got, tt.fields) {
				t.Fatalf("violations = %v, want %v (%v)", got, tt.fields, err)
			}
		})
	}
	// 1000 parts at once are fine.
	big := env.createMultipart(t, ctx, "big", 1000*mpPart, 0).GetFile().GetFileId()
	signed, err := env.client.SignParts(ctx, &presigndv1.SignPartsRequest{FileId: big, PartNumbers: numbers(1, 1000)})
	if err != nil || len(signed.GetParts()) != 1000 || signed.GetParts()[999].GetPartNumber() != 1000 {
		t.Fatalf("SignParts of 1000 parts: %d parts, %v", len(signed.GetParts()), err)
	}
}

func TestPartChecksumsAreBound(t *testing.T) {
	strict := multipartCategory("strict")
	strict.Multipart.PartChecksum = signer.SHA256
	env := newTestEnv(t, multipartCategory("big"), strict)
	ctx := env.as("acme")
	body := randomBytes(t, 2*mpPart+10)
	for _, tt := range []struct {
		name     string
		category string
		asked    presigndv1.ChecksumAlgorithm
		want     presigndv1.ChecksumAlgorithm
		sum      func([]byte) string
	}{
		{"SHA256 asked by the client", "big", presigndv1.ChecksumAlgorithm_CHECKSUM_ALGORITHM_SHA256, presigndv1.ChecksumAlgorithm_CHECKSUM_ALGORITHM_SHA256, func(b []byte) string {
			s := sha256.Sum256(b)
			return base64.StdEncoding.EncodeToString(s[:])
		}},
		{"CRC32C asked by the client", "big", presigndv1.ChecksumAlgorithm_CHECKSUM_ALGORITHM_CRC32C, presigndv1.ChecksumAlgorithm_CHECKSUM_ALGORITHM_CRC32C, func(b []byte) string {
			return base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli))))
		}},
		{"SHA256 required by the category", "strict", 0, presigndv1.ChecksumAlgorithm_CHECKSUM_ALGORITHM_SHA256, func(b []byte) string {
			s := sha256.Sum256(b)
			return base64.StdEncoding.EncodeToString(s[:])
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			created := env.createMultipart(t, ctx, tt.category, int64(len(body)), tt.asked)
			f := created.GetFile()
			if got := created.GetUploadTarget().GetMultipart().GetPartChecksumAlgorithm(); got != tt.want {
				t.Fatalf("part checksum = %v, want %v", got, tt.want)
			}
			if n := len(created.GetUploadTarget().GetParts()); n != 0 {
				t.Fatalf("CreateUpload signed %d parts of an upload that binds part checksums", n)
			}
			sums := map[int32]string{}
			for n := int32(1); n <= 3; n++ {
				sums[n] = tt.sum(partOf(body, mpPart, n))
			}
			signed, err := env.client.SignParts(ctx, &presigndv1.SignPartsRequest{FileId: f.GetFileId(), PartNumbers: numbers(1, 3), PartChecksums: sums})
			if err != nil {
				t.Fatal(err)
			}
			parts := signed.GetParts()
			corrupted := slices.Clone(partOf(body, mpPart, 2))
			corrupted[7] ^= 1
			if code, _ := putPart(t, parts[1], corrupted); code/100 == 2 {
				t.Fatalf("a corrupted part 2 was stored (%d)", code)
			}
			for _, pt := range parts {
				if code, _ := putPart(t, pt, partOf(body, mpPart, pt.GetPartNumber())); code/100 != 2 {
					t.Fatalf("PUT part %d: %d", pt.GetPartNumber(), code)
				}
			}
			done, err := env.client.CompleteUpload(ctx, &presigndv1.CompleteUploadRequest{FileId: f.GetFileId()})
			if err != nil || done.GetFile().GetState() != presigndv1.FileState_FILE_STATE_READY {
				t.Fatalf("CompleteUpload = %v, %v", done.GetFile(), err)
			}
			if !bytes.Equal(env.downloadFile(t, ctx, f.GetFileId()), body) {
				t.Fatal("the object differs from the parts")
			}
		})
	}
}

func TestAbortUpload(t *testing.T) {
	env := newTestEnv(t, multipartCategory("big"))
	ctx := env.as("acme")
	body := randomBytes(t, 2*mpPart)
	created := env.createMultipart(t, ctx, "big", int64(len(body)), 0)
	f := created.GetFile()
	env.signAndPut(t, ctx, f, body, []int32{1})
	usage := func() int64 {
		u, err := env.client.GetUsage(ctx, &presigndv1.GetUsageRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return u.GetBytesReserved()
	}
	if got := usage(); got != int64(len(body)) {
		t.Fatalf("bytes reserved while PENDING = %d, want %d", got, len(body))
	}
	aborted, err := env.client.AbortUpload(ctx, &presigndv1.AbortUploadRequest{FileId: f.GetFileId()})
	if err != nil {
		t.Fatal(err)
	}
	if aborted.GetFile().GetState() != presigndv1.FileState_FILE_STATE_ABORTED || aborted.GetFile().GetCompleteTime() == nil {
		t.Fatalf("aborted file = %v", aborted.GetFile())
	}
	if got := usage(); got != 0 {
		t.Errorf("bytes reserved after the abort = %d, want 0", got)
	}
	stored, err := env.store.GetFile(context.Background(), "acme", f.GetFileId())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.local.ListParts(context.Background(), stored.Key, stored.MultipartUploadID); !errors.Is(err, signer.ErrNotFound) {
		t.Errorf("backend ListParts after the abort = %v, want ErrNotFound", err)
	}
	// The part targets signed before no longer store anything.
	if code, _ := putPart(t, created.GetUploadTarget().GetParts()[1], partOf(body, mpPart, 2)); code/100 == 2 {
		t.Errorf("a part target of the aborted upload stored a part (%d)", code)
	}
	again, err := env.client.AbortUpload(ctx, &presigndv1.AbortUploadRequest{FileId: f.GetFileId()})
	if err != nil || again.GetFile().GetState() != presigndv1.FileState_FILE_STATE_ABORTED ||
		!again.GetFile().GetCompleteTime().AsTime().Equal(aborted.GetFile().GetCompleteTime().AsTime()) {
		t.Fatalf("second AbortUpload = %v, %v; want the file unchanged", again.GetFile(), err)
	}
	for name, call := range map[string]func() error{
		"SignParts": func() error {
			_, err := env.client.SignParts(ctx, &presigndv1.SignPartsRequest{FileId: f.GetFileId(), PartNumbers: []int32{1}})
			return err
		},
		"ListParts": func() error {
			_, err := env.client.ListParts(ctx, &presigndv1.ListPartsRequest{FileId: f.GetFileId()})
			return err
		},
	} {
		if err := call(); status.Code(err) != codes.FailedPrecondition {
			t.Errorf("%s of an ABORTED upload: %v, want FailedPrecondition", name, err)
		}
	}
	if done, err := env.client.CompleteUpload(ctx, &presigndv1.CompleteUploadRequest{FileId: f.GetFileId()}); err != nil || done.GetFile().GetState() != presigndv1.FileState_FILE_STATE_ABORTED {
		t.Errorf("CompleteUpload of an ABORTED upload = %v, %v; want it as it is", done.GetFile(), err)
	}
	listed, err := env.client.ListFiles(ctx, &presigndv1.ListFilesRequest{State: presigndv1.FileState_FILE_STATE_ABORTED})
	if err != nil || len(listed.GetFiles()) != 1 || listed.GetFiles()[0].GetFileId() != f.GetFileId() {
		t.Errorf("ListFiles(ABORTED) = %v, %v", listed.GetFiles(), err)
	}
}

func TestAbortUploadOfASinglePut(t *testing.T) {
	env := newTestEnv(t)
	ctx := env.as("acme")
	body := []byte("half-hearted")
	created, err := env.client.CreateUpload(ctx, &presigndv1.CreateUploadRequest{Filename: "a.txt", ContentType: "text/plain", SizeBytes: int64(len(body))})
	if err != nil {
		t.Fatal(err)
	}
	if code := sendUpload(t, targetOf(t, created.GetUploadTarget()), body); code/100 != 2 {
		t.Fatalf("upload: %d", code)
	}
	aborted, err := env.client.AbortUpload(ctx, &presigndv1.AbortUploadRequest{FileId: created.GetFile().GetFileId()})
	if err != nil || aborted.GetFile().GetState() != presigndv1.FileState_FILE_STATE_ABORTED {
		t.Fatalf("AbortUpload = %v, %v", aborted, err)
	}
	if _, err := env.local.Stat(context.Background(), created.GetFile().GetKey()); !errors.Is(err, signer.ErrNotFound) {
		t.Errorf("the uploaded object outlived the abort: %v", err)
	}
	ready := env.createReady(t, "acme", "done.txt", []byte("done"))
	_, err = env.client.AbortUpload(ctx, &presigndv1.AbortUploadRequest{FileId: ready.GetFileId()})
	wantCode(t, err, codes.FailedPrecondition)
}

func TestMultipartCallsNeedAPendingMultipartUploadOfTheCaller(t *testing.T) {
	env := newTestEnv(t, multipartCategory("big"))
	ctx := env.as("acme")
	mine := env.createMultipart(t, ctx, "big", 2*mpPart, 0).GetFile().GetFileId()
	put := env.createReady(t, "acme", "a.txt", []byte("a")).GetFileId()
	calls := map[string]func(ctx context.Context, id string) error{
		"SignParts": func(ctx context.Context, id string) error {
			_, err := env.client.SignParts(ctx, &presigndv1.SignPartsRequest{FileId: id, PartNumbers: []int32{1}})
			return err
		},
		"ListParts": func(ctx context.Context, id string) error {
			_, err := env.client.ListParts(ctx, &presigndv1.ListPartsRequest{FileId: id})
			return err
		},
		"AbortUpload": func(ctx context.Context, id string) error {
			_, err := env.client.AbortUpload(ctx, &presigndv1.AbortUploadRequest{FileId: id})
			return err
		},
		"CompleteUpload": func(ctx context.Context, id string) error {
			_, err := env.client.CompleteUpload(ctx, &presigndv1.CompleteUploadRequest{FileId: id})
			return err
		},
	}
	for name, call := range calls {
		t.Run(name+" of another tenant's upload is NotFound", func(t *testing.T) {
			wantCode(t, call(env.as("globex"), mine), codes.NotFound)
		})
		t.Run(name+" of an unknown file is NotFound", func(t *testing.T) {
			wantCode(t, call(ctx, "0190c0de-0000-7000-8000-000000000000"), codes.NotFound)
		})
	}
	for _, name := range []string{"SignParts", "ListParts"} {
		t.Run(name+" of a single PUT is FailedPrecondition", func(t *testing.T) {
			wantCode(t, calls[name](ctx, put), codes.FailedPrecondition)
		})
	}
	// globex's attempts left acme's upload as it was.
	if _, err := env.client.ListParts(ctx, &presigndv1.ListPartsRequest{FileId: mine}); err != nil {
		t.Fatalf("ListParts of the owner: %v", err)
	}
}

func TestCreateUploadChoosesMultipart(t *testing.T) {
	never := multipartCategory("never")
	never.Multipart.Threshold = 0
	tiny := multipartCategory("tiny")
	tiny.MaxSize = 10 << 40
	env := newTestEnvWith(t, envOptions{categories: []*policy.Category{multipartCategory("big"), never, tiny}})
	ctx := env.as("acme")
	for _, tt := range []struct {
		name     string
		category string
		size     int64
		method   presigndv1.UploadMethod
		want     presigndv1.UploadMethod
	}{
		{"under the threshold: the category's method", "big", 8*mpPart - 1, 0, presigndv1.UploadMethod_UPLOAD_METHOD_PUT},
		{"at the threshold: MULTIPART", "big", 8 * mpPart, 0, presigndv1.UploadMethod_UPLOAD_METHOD_MULTIPART},
		{"a PUT asked for over the threshold", "big", 9 * mpPart, presigndv1.UploadMethod_UPLOAD_METHOD_PUT, presigndv1.UploadMethod_UPLOAD_METHOD_PUT},
		{"no threshold: never automatic", "never", 100 * mpPart, 0, presigndv1.UploadMethod_UPLOAD_METHOD_PUT},
		{"MULTIPART asked for a small file", "never", 10, presigndv1.UploadMethod_UPLOAD_METHOD_MULTIPART, presigndv1.UploadMethod_UPLOAD_METHOD_MULTIPART},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := env.client.CreateUpload(ctx, &presigndv1.CreateUploadRequest{Category: tt.category, Filename: "f.bin", ContentType: "application/octet-stream", SizeBytes: tt.size, Method: tt.method})
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.GetUploadTarget().GetMethod(); got != tt.want {
				t.Fatalf("method = %v, want %v", got, tt.want)
			}
			if multipart := resp.GetFile().GetMultipart() != nil; multipart != (tt.want == presigndv1.UploadMethod_UPLOAD_METHOD_MULTIPART) {
				t.Errorf("file's multipart layout = %v", resp.GetFile().GetMultipart())
			}
		})
	}
	for _, tt := range []struct {
		name   string
		req    *presigndv1.CreateUploadRequest
		fields []string
	}{
		{"a PUT over 5GiB", &presigndv1.CreateUploadRequest{Category: "tiny", SizeBytes: 5<<30 + 1, Method: presigndv1.UploadMethod_UPLOAD_METHOD_PUT}, []string{"size_bytes"}},
		{"more parts than the backend takes", &presigndv1.CreateUploadRequest{Category: "tiny", SizeBytes: 6 << 40}, []string{"size_bytes"}},
		{"a part checksum for a PUT", &presigndv1.CreateUploadRequest{Category: "big", SizeBytes: 10, PartChecksumAlgorithm: presigndv1.ChecksumAlgorithm_CHECKSUM_ALGORITHM_SHA256}, []string{"part_checksum_algorithm"}},
		{"an MD5 part checksum", &presigndv1.CreateUploadRequest{Category: "big", SizeBytes: 10, Method: presigndv1.UploadMethod_UPLOAD_METHOD_MULTIPART, PartChecksumAlgorithm: presigndv1.ChecksumAlgorithm_CHECKSUM_ALGORITHM_MD5}, []string{"part_checksum_algorithm"}},
	} {
		t.Run(tt.name+" is refused", func(t *testing.T) {
			tt.req.Filename, tt.req.ContentType = "f.bin", "application/octet-stream"
			_, err := env.client.CreateUpload(ctx, tt.req)
			if got := violations(t, err); !slices.Equal(got, tt.fields) {
				t.Fatalf("violations = %v, want %v (%v)", got, tt.fields, err)
			}
		})
	}
}

// putOnly hides every capability of the signer it wraps.
type putOnly struct{ signer.Signer }

func TestMultipartNeedsABackendThatTakesParts(t *testing.T) {
	env := newTestEnvWith(t, envOptions{
		categories:  []*policy.Category{multipartCategory("big")},
		wrapBackend: func(l *local.Signer) signer.Signer { return putOnly{l} },
	})
	ctx := env.as("acme")
	_, err := env.client.CreateUpload(ctx, &presigndv1.CreateUploadRequest{Category: "big", Filename: "f.bin", ContentType: "application/octet-stream", SizeBytes: 10,
		Method: presigndv1.UploadMethod_UPLOAD_METHOD_MULTIPART})
	if got := violations(t, err); !slices.Equal(got, []string{"method"}) {
		t.Fatalf("MULTIPART asked of a backend without it: violations = %v, want method (%v)", got, err)
	}
	// The threshold does not choose what the backend cannot do.
	resp, err := env.client.CreateUpload(ctx, &presigndv1.CreateUploadRequest{Category: "big", Filename: "f.bin", ContentType: "application/octet-stream", SizeBytes: 8 * mpPart})
	if err != nil || resp.GetUploadTarget().GetMethod() != presigndv1.UploadMethod_UPLOAD_METHOD_PUT {
		t.Fatalf("a size over the threshold on a backend without multipart: %v, %v; want a PUT", resp.GetUploadTarget(), err)
	}
}

// noSHA256Parts is the local backend refusing SHA256 part checksums, as
// GCS does.
type noSHA256Parts struct{ *local.Signer }

func (s noSHA256Parts) CreateMultipart(ctx context.Context, req signer.UploadRequest) (string, error) {
	if req.Checksum.Algorithm == signer.SHA256 {
		return "", fmt.Errorf("SHA256 parts: %w", signer.ErrUnsupported)
	}
	return s.Signer.CreateMultipart(ctx, req)
}

func TestPartChecksumTheBackendCannotBind(t *testing.T) {
	env := newTestEnvWith(t, envOptions{
		categories:  []*policy.Category{multipartCategory("big")},
		wrapBackend: func(l *local.Signer) signer.Signer { return noSHA256Parts{l} },
	})
	ctx := env.as("acme")
	_, err := env.client.CreateUpload(ctx, &presigndv1.CreateUploadRequest{Category: "big", Filename: "f.bin", ContentType: "application/octet-stream", SizeBytes: 10,
		Method: presigndv1.UploadMethod_UPLOAD_METHOD_MULTIPART, PartChecksumAlgorithm: presigndv1.ChecksumAlgorithm_CHECKSUM_ALGORITHM_SHA256})
	if got := violations(t, err); !slices.Equal(got, []string{"part_checksum_algorithm"}) {
		t.Fatalf("violations = %v, want part_checksum_algorithm (%v)", got, err)
	}
	// Nothing was recorded.
	if list, err := env.client.ListFiles(ctx, &presigndv1.ListFilesRequest{}); err != nil || len(list.GetFiles()) != 0 {
		t.Fatalf("files after the refusal: %v, %v", list.GetFiles(), err)
	}
	env.createMultipart(t, ctx, "big", 10, presigndv1.ChecksumAlgorithm_CHECKSUM_ALGORITHM_CRC32C)
}

func TestMultipartRetryByRequestID(t *testing.T) {
	env := newTestEnv(t, multipartCategory("big"))
	ctx := env.as("acme")
	req := &presigndv1.CreateUploadRequest{Category: "big", Filename: "f.bin", ContentType: "application/octet-stream", SizeBytes: 3 * mpPart,
		Method: presigndv1.UploadMethod_UPLOAD_METHOD_MULTIPART, RequestId: "r-1"}
	first, err := env.client.CreateUpload(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	second, err := env.client.CreateUpload(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if second.GetFile().GetFileId() != first.GetFile().GetFileId() || len(second.GetUploadTarget().GetParts()) != 3 ||
		!second.GetFile().GetUploadExpireTime().AsTime().Equal(first.GetFile().GetUploadExpireTime().AsTime()) {
		t.Fatalf("retry = %v, want the same upload with its parts signed again", second)
	}
	req.PartChecksumAlgorithm = presigndv1.ChecksumAlgorithm_CHECKSUM_ALGORITHM_SHA256
	_, err = env.client.CreateUpload(ctx, req)
	wantCode(t, err, codes.AlreadyExists)
}

func TestPartLayout(t *testing.T) {
	s3 := signer.PartLimits{MinPartSize: 5 * mib, MaxPartSize: 5 << 30, MaxParts: 10000, MaxObjectSize: 5 << 40}
	for _, tt := range []struct {
		name      string
		size      int64
		want      int64
		limits    signer.PartLimits
		partSize  int64
		partCount int
		err       bool
	}{
		{"the category's part size", 100 * mib, 8 * mib, s3, 8 * mib, 13, false},
		{"the default part size when none is set", 100 * mib, 0, s3, 8 * mib, 13, false},
		{"raised to the backend's minimum", 100 * mib, mib, s3, 5 * mib, 20, false},
		{"a file smaller than a part is one part", 10, 8 * mib, s3, 8 * mib, 1, false},
		{"raised so that 10000 parts hold the file, to a whole MiB", 100 << 30, 8 * mib, s3, 11 * mib, 9310, false},
		{"5TiB in 10000 parts", 5 << 40, 8 * mib, s3, 525 * mib, 9987, false},
		{"exactly part_size times MaxParts", 8 * mib * 10000, 8 * mib, s3, 8 * mib, 10000, false},
		{"a backend without a part limit takes 10000", 100 << 30, 8 * mib, signer.PartLimits{MinPartSize: mib}, 11 * mib, 9310, false},
		{"more than the backend's largest object", 5<<40 + 1, 8 * mib, s3, 0, 0, true},
		{"parts larger than the backend takes", 1 << 30, 8 * mib, signer.PartLimits{MinPartSize: mib, MaxPartSize: 16 * mib, MaxParts: 10}, 0, 0, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			size, count, err := partLayout(tt.size, tt.want, tt.limits)
			if (err != nil) != tt.err {
				t.Fatalf("error = %v, want one: %v", err, tt.err)
			}
			if size != tt.partSize || count != tt.partCount {
				t.Fatalf("layout = %d × %d, want %d × %d", count, size, tt.partCount, tt.partSize)
			}
			if err == nil && (int64(count-1)*size >= tt.size || int64(count)*size < tt.size) {
				t.Fatalf("%d parts of %d do not cut %d bytes with a non-empty last part", count, size, tt.size)
			}
		})
	}
}

func TestDeleteFileAbortsAPendingMultipartUpload(t *testing.T) {
	env := newTestEnv(t, multipartCategory("big"))
	ctx := env.as("acme")
	body := randomBytes(t, 2*mpPart)
	f := env.createMultipart(t, ctx, "big", int64(len(body)), 0).GetFile()
	env.signAndPut(t, ctx, f, body, []int32{1})
	stored, err := env.store.GetFile(context.Background(), "acme", f.GetFileId())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.client.DeleteFile(ctx, &presigndv1.DeleteFileRequest{FileId: f.GetFileId()}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.local.ListParts(context.Background(), stored.Key, stored.MultipartUploadID); !errors.Is(err, signer.ErrNotFound) {
		t.Errorf("backend ListParts after DeleteFile = %v, want ErrNotFound: the parts outlived their file", err)
	}
}

func TestMultipartUploadPastItsTime(t *testing.T) {
	env := newTestEnv(t, multipartCategory("big"))
	ctx := env.as("acme")
	f := env.createMultipart(t, ctx, "big", 2*mpPart, 0).GetFile()
	env.clock.set(time.Hour + time.Second)
	_, err := env.client.SignParts(ctx, &presigndv1.SignPartsRequest{FileId: f.GetFileId(), PartNumbers: []int32{1}})
	wantCode(t, err, codes.FailedPrecondition)
	if !strings.Contains(status.Convert(err).Message(), "expired") {
		t.Errorf("SignParts past upload_ttl: %v, want a message saying it expired", err)
	}
}

func TestCompleteUploadAfterTheBackendCompletedIt(t *testing.T) {
	// A CompleteUpload that completed the backend's upload, then failed
	// before the record changed: the next one finds no upload, stats the
	// object, and the file is READY.
	env := newTestEnv(t, multipartCategory("big"))
	ctx := env.as("acme")
	body := randomBytes(t, 2*mpPart+3)
	f := env.createMultipart(t, ctx, "big", int64(len(body)), 0).GetFile()
	env.signAndPut(t, ctx, f, body, numbers(1, 3))
	stored, err := env.store.GetFile(context.Background(), "acme", f.GetFileId())
	if err != nil {
		t.Fatal(err)
	}
	held, err := env.local.ListParts(context.Background(), stored.Key, stored.MultipartUploadID)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.local.CompleteMultipart(context.Background(), stored.Key, stored.MultipartUploadID, held); err != nil {
		t.Fatal(err)
	}
	done, err := env.client.CompleteUpload(ctx, &presigndv1.CompleteUploadRequest{FileId: f.GetFileId()})
	if err != nil || done.GetFile().GetState() != presigndv1.FileState_FILE_STATE_READY {
		t.Fatalf("CompleteUpload = %v, %v; want READY", done.GetFile(), err)
	}
	if !bytes.Equal(env.downloadFile(t, ctx, f.GetFileId()), body) {
		t.Fatal("the object differs from the parts")
	}
}

func TestMultipartUploadRefusedByTheStoreIsAborted(t *testing.T) {
	limited := multipartCategory("limited")
	limited.StorageLimit = 4 * mpPart
	env := newTestEnv(t, limited)
	ctx := env.as("acme")
	_, err := env.client.CreateUpload(ctx, &presigndv1.CreateUploadRequest{Category: "limited", Filename: "f.bin", ContentType: "application/octet-stream",
		SizeBytes: 5 * mpPart, Method: presigndv1.UploadMethod_UPLOAD_METHOD_MULTIPART})
	wantCode(t, err, codes.ResourceExhausted)
	left, err := env.local.ListMultipartUploads(context.Background(), time.Now().Add(time.Hour), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Fatalf("the backend still holds %d multipart uploads of a refused file: %v", len(left), left)
	}
}

func TestMultipartValidateOnly(t *testing.T) {
	env := newTestEnv(t, multipartCategory("big"))
	ctx := env.as("acme")
	resp, err := env.client.CreateUpload(ctx, &presigndv1.CreateUploadRequest{Category: "big", Filename: "f.bin", ContentType: "application/octet-stream",
		SizeBytes: 3 * mpPart, Method: presigndv1.UploadMethod_UPLOAD_METHOD_MULTIPART, ValidateOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetFile().GetMultipart().GetPartCount() != 3 || resp.GetUploadTarget() != nil || resp.GetFile().GetFileId() != "" {
		t.Fatalf("validate_only answer = %v, want the layout and no target", resp)
	}
	left, err := env.local.ListMultipartUploads(context.Background(), time.Now().Add(time.Hour), 10)
	if err != nil || len(left) != 0 {
		t.Fatalf("validate_only started %d multipart uploads (%v)", len(left), err)
	}
}

func TestConcurrentCompletesOfAMultipartUpload(t *testing.T) {
	env := newTestEnv(t, multipartCategory("big"))
	ctx := env.as("acme")
	for round := range 5 {
		body := randomBytes(t, 40*mpPart+7)
		f := env.createMultipart(t, ctx, "big", int64(len(body)), 0).GetFile()
		env.signAndPut(t, ctx, f, body, numbers(1, 41))
		var wg sync.WaitGroup
		results := make([]*presigndv1.File, 4)
		errs := make([]error, 4)
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				done, err := env.client.CompleteUpload(ctx, &presigndv1.CompleteUploadRequest{FileId: f.GetFileId()})
				results[i], errs[i] = done.GetFile(), err
			}()
		}
		wg.Wait()
		for i, err := range errs {
			// A call that raced with the assembly may be told to retry;
			// none may fail the upload.
			if err != nil && status.Code(err) != codes.FailedPrecondition {
				t.Fatalf("round %d: CompleteUpload %d: %v", round, i, err)
			}
			if err == nil && results[i].GetState() != presigndv1.FileState_FILE_STATE_READY {
				t.Fatalf("round %d: CompleteUpload %d = %v, want READY", round, i, results[i])
			}
		}
		done, err := env.client.CompleteUpload(ctx, &presigndv1.CompleteUploadRequest{FileId: f.GetFileId()})
		if err != nil || done.GetFile().GetState() != presigndv1.FileState_FILE_STATE_READY {
			t.Fatalf("round %d: CompleteUpload after the race = %v, %v", round, done.GetFile(), err)
		}
		if !bytes.Equal(env.downloadFile(t, ctx, f.GetFileId()), body) {
			t.Fatalf("round %d: the object differs from the parts", round)
		}
	}
}

func TestCompleteUploadOfAMultipartUploadTheBackendLost(t *testing.T) {
	env := newTestEnv(t, multipartCategory("big"))
	ctx := env.as("acme")
	f := env.createMultipart(t, ctx, "big", 2*mpPart, 0).GetFile()
	stored, err := env.store.GetFile(context.Background(), "acme", f.GetFileId())
	if err != nil {
		t.Fatal(err)
	}
	if err := env.local.AbortMultipart(context.Background(), stored.Key, stored.MultipartUploadID); err != nil {
		t.Fatal(err)
	}
	// While the upload's time runs: retry later, the file stays PENDING.
	_, err = env.client.CompleteUpload(ctx, &presigndv1.CompleteUploadRequest{FileId: f.GetFileId()})
	wantCode(t, err, codes.FailedPrecondition)
	if got, err := env.client.GetFile(ctx, &presigndv1.GetFileRequest{FileId: f.GetFileId()}); err != nil || got.GetFile().GetState() != presigndv1.FileState_FILE_STATE_PENDING {
		t.Fatalf("file = %v, %v; want PENDING", got.GetFile(), err)
	}
	// Past it: FAILED, saying why.
	env.clock.set(time.Hour + time.Second)
	done, err := env.client.CompleteUpload(ctx, &presigndv1.CompleteUploadRequest{FileId: f.GetFileId()})
	if err != nil || done.GetFile().GetState() != presigndv1.FileState_FILE_STATE_FAILED || !strings.Contains(done.GetFile().GetFailureReason(), "no longer holds the multipart upload") {
		t.Fatalf("CompleteUpload past the upload's time = %v, %v; want FAILED", done.GetFile(), err)
	}
}
