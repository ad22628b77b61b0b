package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	binenc "encoding/binary"
	"fmt"
	"hash/crc32"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	presigndv1 "github.com/presignd/presignd/gen/presignd/v1"
	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/signer/gcs/gcstest"
	"github.com/presignd/presignd/signer/signertest"
)

// The multipart e2e file: two 5 MiB parts (the smallest S3 and the local
// backend take) and a short third one.
const (
	mpPartSize = 5 << 20
	mpFileSize = 2*mpPartSize + 123457
	mpParts    = 3
)

// startMultipart runs presignd with a category "big" on backend, in
// parts of 5 MiB, MULTIPART from 10 MiB.
func startMultipart(t *testing.T, backend map[string]any) *instance {
	t.Helper()
	cfg := map[string]any{
		"backends": map[string]any{"store": backend},
		"categories": map[string]any{
			"big": map[string]any{"backend": "store", "max_size": "1GiB", "url_ttl": "10m",
				"multipart": map[string]any{"threshold": "10MiB", "part_size": "5MiB", "upload_ttl": "1h"}},
		},
	}
	raw, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return start(t, "--config", writeConfig(t, string(raw)))
}

func localBackend() map[string]any { return map[string]any{"driver": "local"} }

func TestMultipartOnLocal(t *testing.T) {
	t.Parallel()
	runMultipart(t, startMultipart(t, localBackend()), true)
}

func TestMultipartOnS3(t *testing.T) {
	t.Parallel()
	runMultipart(t, startMultipart(t, s3Backend(t)), true)
}

// TestMultipartOnGCS runs on the XML API multipart upload of an
// in-process fake GCS whose handler verifies every signature.
func TestMultipartOnGCS(t *testing.T) {
	t.Parallel()
	fake := gcstest.NewServer(t, "multipart-bucket")
	creds := filepath.Join(t.TempDir(), "service-account.json")
	if err := os.WriteFile(creds, fake.CredentialsJSON, 0o600); err != nil {
		t.Fatal(err)
	}
	runMultipart(t, startMultipart(t, map[string]any{"driver": "gcs", "gcs": map[string]any{
		"bucket": fake.Bucket, "credentials_file": creds, "endpoint": fake.URL,
	}}), false)
}

// runMultipart runs the multipart flows on inst; sha256Parts says whether
// its backend binds SHA256 part checksums (GCS binds CRC32C only).
func runMultipart(t *testing.T, inst *instance, sha256Parts bool) {
	body := make([]byte, mpFileSize)
	if _, err := rand.Read(body); err != nil {
		t.Fatal(err)
	}
	t.Run("over gRPC, parts in parallel out of order", func(t *testing.T) { multipartOverGRPC(t, inst, body) })
	t.Run("over REST, resumed from ListParts", func(t *testing.T) { multipartOverREST(t, inst, body) })
	t.Run("aborted over REST", func(t *testing.T) { multipartAbort(t, inst, body) })
	t.Run("with CRC32C part checksums", func(t *testing.T) {
		multipartChecksums(t, inst, body, "CHECKSUM_ALGORITHM_CRC32C", func(b []byte) []byte {
			return binenc.BigEndian.AppendUint32(nil, crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
		})
	})
	t.Run("with SHA256 part checksums", func(t *testing.T) {
		if !sha256Parts {
			code, resp := inst.rest(t, "POST", "/v1/uploads", map[string]any{
				"category": "big", "filename": "big.bin", "content_type": "application/octet-stream", "size_bytes": len(body),
				"part_checksum_algorithm": "CHECKSUM_ALGORITHM_SHA256",
			})
			if code != http.StatusBadRequest || !slices.Equal(violatedFields(resp), []string{"part_checksum_algorithm"}) {
				t.Fatalf("SHA256 parts on a backend that cannot bind them: %d %v, want 400 naming part_checksum_algorithm", code, resp)
			}
			return
		}
		multipartChecksums(t, inst, body, "CHECKSUM_ALGORITHM_SHA256", func(b []byte) []byte {
			sum := sha256.Sum256(b)
			return sum[:]
		})
	})
}

// multipartChecksums uploads body in parts bound to their checksums in
// algorithm (digest computes one): a corrupted part is refused by storage,
// the right ones make the file READY.
func multipartChecksums(t *testing.T, inst *instance, body []byte, algorithm string, digest func([]byte) []byte) {
	code, created := inst.rest(t, "POST", "/v1/uploads", map[string]any{
		"category": "big", "filename": "big.bin", "content_type": "application/octet-stream", "size_bytes": len(body),
		"part_checksum_algorithm": algorithm,
	})
	if code != http.StatusOK {
		t.Fatalf("CreateUpload: %d %v", code, created)
	}
	if str(created, "upload_target.multipart.part_checksum_algorithm") != algorithm || len(partsOf(t, field(created, "upload_target.parts"))) != 0 {
		t.Fatalf("CreateUpload answer = %v, want the part checksum and no part signed", created)
	}
	id := str(created, "file.file_id")
	sums := map[string]string{}
	for n := 1; n <= mpParts; n++ {
		start := (n - 1) * mpPartSize
		sums[strconv.Itoa(n)] = base64.StdEncoding.EncodeToString(digest(body[start:min(start+mpPartSize, len(body))]))
	}
	code, signed := inst.rest(t, "POST", "/v1/files/"+id+"/parts:sign", map[string]any{"part_numbers": []int{1, 2, 3}, "part_checksums": sums})
	if code != http.StatusOK {
		t.Fatalf("SignParts: %d %v", code, signed)
	}
	parts := partsOf(t, signed["parts"])
	corrupted := slices.Clone(body[:mpPartSize])
	corrupted[12345] ^= 0x40
	resp, err := signertest.Upload(context.Background(), http.DefaultClient,
		signer.UploadTarget{Method: http.MethodPut, URL: parts[0]["url"].(string), Headers: headersOf(parts[0]["headers"])}, corrupted)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		t.Fatalf("a corrupted part 1 was stored (%d)", resp.StatusCode)
	}
	for _, pt := range parts {
		putPart(t, pt["url"].(string), headersOf(pt["headers"]), body, int(pt["part_number"].(float64)))
	}
	code, done := inst.rest(t, "POST", "/v1/files/"+id+":complete", map[string]any{})
	if code != http.StatusOK || str(done, "file.state") != "FILE_STATE_READY" {
		t.Fatalf("CompleteUpload: %d %v", code, done)
	}
	code, dl := inst.rest(t, "POST", "/v1/files/"+id+":download", map[string]any{})
	if code != http.StatusOK {
		t.Fatalf("CreateDownloadUrl: %d %v", code, dl)
	}
	if code, got, _ := download(t, str(dl, "url")); code != http.StatusOK || !bytes.Equal(got, body) {
		t.Fatalf("download: %d, %d bytes; want the %d bytes sent", code, len(got), len(body))
	}
}

// putPart sends part n of body to a part target and returns its ETag.
func putPart(t *testing.T, url string, headers map[string]string, body []byte, n int) string {
	t.Helper()
	start := (n - 1) * mpPartSize
	part := body[start:min(start+mpPartSize, len(body))]
	resp, err := signertest.Upload(context.Background(), http.DefaultClient, signer.UploadTarget{Method: http.MethodPut, URL: url, Headers: headers}, part)
	if err != nil {
		t.Errorf("PUT part %d: %v", n, err)
		return ""
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 || resp.Header.Get("ETag") == "" {
		t.Errorf("PUT part %d: status %d, ETag %q", n, resp.StatusCode, resp.Header.Get("ETag"))
	}
	return resp.Header.Get("ETag")
}

func multipartOverGRPC(t *testing.T, inst *instance, body []byte) {
	client := inst.grpcClient(t)
	ctx := metadata.AppendToOutgoingContext(context.Background(), "x-api-key", inst.APIKey)
	// No method named: the size passes the category's threshold.
	created, err := client.CreateUpload(ctx, &presigndv1.CreateUploadRequest{
		Category: "big", Filename: "big.bin", ContentType: "application/octet-stream", SizeBytes: int64(len(body)),
	})
	if err != nil {
		t.Fatalf("CreateUpload: %v", err)
	}
	target := created.GetUploadTarget()
	if target.GetMethod() != presigndv1.UploadMethod_UPLOAD_METHOD_MULTIPART || target.GetMultipart().GetPartCount() != mpParts ||
		target.GetMultipart().GetPartSizeBytes() != mpPartSize || len(target.GetParts()) != mpParts {
		t.Fatalf("upload target = %v, want MULTIPART in %d parts of %d", target, mpParts, mpPartSize)
	}
	id := created.GetFile().GetFileId()
	parts := slices.Clone(target.GetParts())
	slices.Reverse(parts)
	var wg sync.WaitGroup
	for _, pt := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			putPart(t, pt.GetUrl(), pt.GetHeaders(), body, int(pt.GetPartNumber()))
		}()
	}
	wg.Wait()
	listed, err := client.ListParts(ctx, &presigndv1.ListPartsRequest{FileId: id})
	if err != nil {
		t.Fatalf("ListParts: %v", err)
	}
	var numbers []int32
	for _, p := range listed.GetParts() {
		numbers = append(numbers, p.GetPartNumber())
	}
	if !slices.Equal(numbers, []int32{1, 2, 3}) {
		t.Fatalf("ListParts = %v, want parts 1 to 3", listed.GetParts())
	}
	done, err := client.CompleteUpload(ctx, &presigndv1.CompleteUploadRequest{FileId: id})
	if err != nil || done.GetFile().GetState() != presigndv1.FileState_FILE_STATE_READY {
		t.Fatalf("CompleteUpload: %v %v", done.GetFile(), err)
	}
	dl, err := client.CreateDownloadUrl(ctx, &presigndv1.CreateDownloadUrlRequest{FileId: id})
	if err != nil {
		t.Fatal(err)
	}
	code, got, _ := download(t, dl.GetUrl())
	if code != http.StatusOK || sha256.Sum256(got) != sha256.Sum256(body) {
		t.Fatalf("download: %d, %d bytes; want the %d bytes sent", code, len(got), len(body))
	}
	_, err = client.SignParts(ctx, &presigndv1.SignPartsRequest{FileId: id, PartNumbers: []int32{1}})
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("SignParts of a READY file: %v, want FailedPrecondition", err)
	}
}

// partsOf reads a REST list of part targets or parts.
func partsOf(t *testing.T, v any) []map[string]any {
	t.Helper()
	list, ok := v.([]any)
	if !ok {
		t.Fatalf("not a list of parts: %v", v)
	}
	out := make([]map[string]any, len(list))
	for i, p := range list {
		out[i] = p.(map[string]any)
	}
	return out
}

func headersOf(v any) map[string]string {
	out := map[string]string{}
	m, _ := v.(map[string]any)
	for k, val := range m {
		out[k] = val.(string)
	}
	return out
}

func multipartOverREST(t *testing.T, inst *instance, body []byte) {
	code, created := inst.rest(t, "POST", "/v1/uploads", map[string]any{
		"category": "big", "filename": "big.bin", "content_type": "application/octet-stream", "size_bytes": len(body),
		"method": "UPLOAD_METHOD_MULTIPART",
	})
	if code != http.StatusOK {
		t.Fatalf("CreateUpload: %d %v", code, created)
	}
	id := str(created, "file.file_id")
	if str(created, "upload_target.method") != "UPLOAD_METHOD_MULTIPART" || str(created, "upload_target.url") != "" ||
		str(created, "upload_target.multipart.part_size_bytes") != strconv.Itoa(mpPartSize) || field(created, "file.multipart.part_count") != float64(mpParts) {
		t.Fatalf("CreateUpload answer = %v", created)
	}
	// The first run sends parts 3 and 1, then stops.
	for _, pt := range partsOf(t, field(created, "upload_target.parts")) {
		if n := int(pt["part_number"].(float64)); n != 2 {
			putPart(t, pt["url"].(string), headersOf(pt["headers"]), body, n)
		}
	}
	// The second run asks what storage holds and signs only the rest.
	code, listed := inst.rest(t, "GET", "/v1/files/"+id+"/parts", nil)
	if code != http.StatusOK {
		t.Fatalf("ListParts: %d %v", code, listed)
	}
	held := map[int]bool{}
	for _, p := range partsOf(t, listed["parts"]) {
		held[int(p["part_number"].(float64))] = true
	}
	if !held[1] || held[2] || !held[3] {
		t.Fatalf("ListParts after parts 1 and 3 = %v", listed)
	}
	var missing []int
	for n := 1; n <= mpParts; n++ {
		if !held[n] {
			missing = append(missing, n)
		}
	}
	code, signed := inst.rest(t, "POST", "/v1/files/"+id+"/parts:sign", map[string]any{"part_numbers": missing})
	if code != http.StatusOK || len(partsOf(t, signed["parts"])) != 1 {
		t.Fatalf("SignParts(%v): %d %v", missing, code, signed)
	}
	pt := partsOf(t, signed["parts"])[0]
	if pt["size_bytes"] != strconv.Itoa(mpPartSize) {
		t.Errorf("part 2 target binds %v bytes, want %d", pt["size_bytes"], mpPartSize)
	}
	putPart(t, pt["url"].(string), headersOf(pt["headers"]), body, 2)
	// Complete with the parts as ListParts shows them now.
	code, listed = inst.rest(t, "GET", "/v1/files/"+id+"/parts", nil)
	if code != http.StatusOK {
		t.Fatalf("ListParts: %d %v", code, listed)
	}
	var completed []map[string]any
	for _, p := range partsOf(t, listed["parts"]) {
		completed = append(completed, map[string]any{"part_number": p["part_number"], "etag": p["etag"]})
	}
	code, done := inst.rest(t, "POST", "/v1/files/"+id+":complete", map[string]any{"parts": completed})
	if code != http.StatusOK || str(done, "file.state") != "FILE_STATE_READY" {
		t.Fatalf("CompleteUpload: %d %v", code, done)
	}
	code, dl := inst.rest(t, "POST", "/v1/files/"+id+":download", map[string]any{})
	if code != http.StatusOK {
		t.Fatalf("CreateDownloadUrl: %d %v", code, dl)
	}
	code, got, _ := download(t, str(dl, "url"))
	if code != http.StatusOK || !bytes.Equal(got, body) {
		t.Fatalf("download: %d, %d bytes; want the %d bytes sent", code, len(got), len(body))
	}
}

func multipartAbort(t *testing.T, inst *instance, body []byte) {
	code, created := inst.rest(t, "POST", "/v1/uploads", map[string]any{
		"category": "big", "filename": "big.bin", "content_type": "application/octet-stream", "size_bytes": len(body),
	})
	if code != http.StatusOK {
		t.Fatalf("CreateUpload: %d %v", code, created)
	}
	id := str(created, "file.file_id")
	parts := partsOf(t, field(created, "upload_target.parts"))
	putPart(t, parts[0]["url"].(string), headersOf(parts[0]["headers"]), body, 1)
	code, aborted := inst.rest(t, "POST", "/v1/files/"+id+":abort", map[string]any{})
	if code != http.StatusOK || str(aborted, "file.state") != "FILE_STATE_ABORTED" {
		t.Fatalf("AbortUpload: %d %v", code, aborted)
	}
	code, again := inst.rest(t, "POST", "/v1/files/"+id+":abort", map[string]any{})
	if code != http.StatusOK || str(again, "file.state") != "FILE_STATE_ABORTED" {
		t.Fatalf("second AbortUpload: %d %v", code, again)
	}
	if code, listed := inst.rest(t, "GET", "/v1/files/"+id+"/parts", nil); code != http.StatusBadRequest {
		t.Errorf("ListParts of an ABORTED upload: %d %v, want 400", code, listed)
	}
	// A part target signed before the abort stores nothing that lasts.
	resp, err := signertest.Upload(context.Background(), http.DefaultClient,
		signer.UploadTarget{Method: http.MethodPut, URL: parts[1]["url"].(string), Headers: headersOf(parts[1]["headers"])}, body[mpPartSize:2*mpPartSize])
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		t.Errorf("a part target of the aborted upload took a part (%d)", resp.StatusCode)
	}
	code, usage := inst.rest(t, "GET", "/v1/usage?category=big", nil)
	if code != http.StatusOK || fmt.Sprint(usage["bytes_reserved"]) != "0" {
		t.Errorf("usage after the abort: %d %v, want nothing reserved", code, usage)
	}
}
