package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"

	presigndv1 "github.com/presignd/presignd/gen/presignd/v1"
	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/signer/signertest"
)

// targetFromJSON reads a REST upload_target.
func targetFromJSON(t *testing.T, v any) signer.UploadTarget {
	t.Helper()
	target := signer.UploadTarget{Headers: map[string]string{}, FormFields: map[string]string{}}
	switch str(v, "method") {
	case "UPLOAD_METHOD_PUT":
		target.Method = http.MethodPut
	case "UPLOAD_METHOD_POST":
		target.Method = http.MethodPost
	default:
		t.Fatalf("upload_target.method = %q", str(v, "method"))
	}
	target.URL = str(v, "url")
	for k, val := range field(v, "headers").(map[string]any) {
		target.Headers[k] = val.(string)
	}
	for k, val := range field(v, "form_fields").(map[string]any) {
		target.FormFields[k] = val.(string)
	}
	return target
}

func targetFromProto(t *testing.T, pt *presigndv1.UploadTarget) signer.UploadTarget {
	t.Helper()
	target := signer.UploadTarget{URL: pt.GetUrl(), Headers: pt.GetHeaders(), FormFields: pt.GetFormFields()}
	switch pt.GetMethod() {
	case presigndv1.UploadMethod_UPLOAD_METHOD_PUT:
		target.Method = http.MethodPut
	case presigndv1.UploadMethod_UPLOAD_METHOD_POST:
		target.Method = http.MethodPost
	default:
		t.Fatalf("upload target method %v", pt.GetMethod())
	}
	return target
}

func upload(t *testing.T, target signer.UploadTarget, body []byte) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := signertest.Upload(ctx, http.DefaultClient, target, body)
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func download(t *testing.T, rawURL string) (int, []byte, http.Header) {
	t.Helper()
	resp, err := http.Get(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b, resp.Header
}

func sha256b64(b []byte) string {
	sum := sha256.Sum256(b)
	return base64.StdEncoding.EncodeToString(sum[:])
}

func TestRESTFlow(t *testing.T) {
	t.Parallel()
	inst := start(t)
	body := []byte("the quick brown fox jumps over the lazy dog\n")

	code, created := inst.rest(t, "POST", "/v1/uploads", map[string]any{
		"filename": "fox.txt", "content_type": "text/plain", "size_bytes": len(body),
		"checksum": map[string]any{"algorithm": "CHECKSUM_ALGORITHM_SHA256", "value": sha256b64(body)},
		"metadata": map[string]string{"purpose": "e2e"},
	})
	if code != http.StatusOK {
		t.Fatalf("CreateUpload: %d %v", code, created)
	}
	id := str(created, "file.file_id")
	if got := str(created, "file.state"); got != "FILE_STATE_PENDING" {
		t.Fatalf("new file state = %q, want PENDING", got)
	}
	if str(created, "file.key") == "" || str(created, "file.signed_id") == "" {
		t.Fatalf("file lacks key or signed_id: %v", created)
	}
	target := targetFromJSON(t, created["upload_target"])
	// The default local backend's URLs and files have a clean layout:
	// /objects/local/KEY, and DATA_DIR/backends/local/objects/KEY on disk.
	if u, err := url.Parse(target.URL); err != nil || u.Path != "/objects/local/"+str(created, "file.key") {
		t.Errorf("upload URL path = %q, want /objects/local/%s", u.Path, str(created, "file.key"))
	}
	if code := upload(t, target, body); code/100 != 2 {
		t.Fatalf("upload to target: %d", code)
	}
	onDisk := filepath.Join(inst.DataDir, "backends", "local", "objects", filepath.FromSlash(str(created, "file.key")))
	if _, err := os.Stat(onDisk); err != nil {
		t.Errorf("the uploaded object is not at DATA_DIR/backends/local/objects/KEY: %v", err)
	}

	code, completed := inst.rest(t, "POST", "/v1/files/"+id+":complete", nil)
	if code != http.StatusOK || str(completed, "file.state") != "FILE_STATE_READY" {
		t.Fatalf("CompleteUpload: %d %v", code, completed)
	}
	// Completing again is harmless and returns the same READY file.
	code, again := inst.rest(t, "POST", "/v1/files/"+id+":complete", map[string]any{})
	if code != http.StatusOK || str(again, "file.state") != "FILE_STATE_READY" || str(again, "file.complete_time") != str(completed, "file.complete_time") {
		t.Fatalf("second CompleteUpload: %d %v", code, again)
	}

	code, got := inst.rest(t, "GET", "/v1/files/"+id, nil)
	if code != http.StatusOK || str(got, "file.display_name") != "fox.txt" || str(got, "file.metadata.purpose") != "e2e" {
		t.Fatalf("GetFile: %d %v", code, got)
	}
	// The signed id resolves to the same file.
	code, bySigned := inst.rest(t, "GET", "/v1/files/"+url.PathEscape(str(got, "file.signed_id")), nil)
	if code != http.StatusOK || str(bySigned, "file.file_id") != id {
		t.Fatalf("GetFile by signed_id: %d %v", code, bySigned)
	}

	code, dl := inst.rest(t, "POST", "/v1/files/"+id+":download", map[string]any{"disposition": "attachment"})
	if code != http.StatusOK {
		t.Fatalf("CreateDownloadUrl: %d %v", code, dl)
	}
	status, gotBytes, hdr := download(t, str(dl, "url"))
	if status != http.StatusOK || !bytes.Equal(gotBytes, body) {
		t.Fatalf("download: %d %q, want %q", status, gotBytes, body)
	}
	if cd := hdr.Get("Content-Disposition"); cd != `attachment; filename="fox.txt"` {
		t.Errorf("Content-Disposition = %q", cd)
	}

	code, renamed := inst.rest(t, "PATCH", "/v1/files/"+id+"?update_mask=display_name", map[string]any{"display_name": "  Fox notes "})
	if code != http.StatusOK || str(renamed, "file.display_name") != "Fox notes" {
		t.Fatalf("UpdateFile: %d %v", code, renamed)
	}

	code, list := inst.rest(t, "GET", "/v1/files?page_size=10&name_contains=fox", nil)
	files, _ := list["files"].([]any)
	if code != http.StatusOK || len(files) != 1 || str(files[0], "file_id") != id {
		t.Fatalf("ListFiles: %d %v", code, list)
	}

	code, usage := inst.rest(t, "GET", "/v1/usage", nil)
	if code != http.StatusOK || str(usage, "file_count") != "1" || str(usage, "bytes_used") != "44" {
		t.Fatalf("GetUsage: %d %v", code, usage)
	}

	if code, resp := inst.rest(t, "DELETE", "/v1/files/"+id, nil); code != http.StatusOK {
		t.Fatalf("DeleteFile: %d %v", code, resp)
	}
	if code, _ := inst.rest(t, "GET", "/v1/files/"+id, nil); code != http.StatusNotFound {
		t.Fatalf("GetFile after delete: %d, want 404", code)
	}
	if status, _, _ := download(t, str(dl, "url")); status != http.StatusGone {
		t.Fatalf("download after delete: %d, want 410 (the URL is spent)", status)
	}
}

func TestGRPCFlow(t *testing.T) {
	t.Parallel()
	inst := start(t)
	client := inst.grpcClient(t)
	ctx := metadata.AppendToOutgoingContext(context.Background(), "x-api-key", inst.APIKey)
	body := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB

	created, err := client.CreateUpload(ctx, &presigndv1.CreateUploadRequest{
		Filename: "blob.bin", ContentType: "application/octet-stream", SizeBytes: int64(len(body)),
	})
	if err != nil {
		t.Fatalf("CreateUpload: %v", err)
	}
	if code := upload(t, targetFromProto(t, created.GetUploadTarget()), body); code/100 != 2 {
		t.Fatalf("upload: %d", code)
	}
	completed, err := client.CompleteUpload(ctx, &presigndv1.CompleteUploadRequest{FileId: created.GetFile().GetFileId()})
	if err != nil || completed.GetFile().GetState() != presigndv1.FileState_FILE_STATE_READY {
		t.Fatalf("CompleteUpload: %v %v", completed, err)
	}
	if completed.GetFile().GetSizeBytes() != int64(len(body)) || completed.GetFile().GetEtag() == "" {
		t.Errorf("completed file = %v", completed.GetFile())
	}
	dl, err := client.CreateDownloadUrl(ctx, &presigndv1.CreateDownloadUrlRequest{FileId: created.GetFile().GetFileId()})
	if err != nil {
		t.Fatalf("CreateDownloadUrl: %v", err)
	}
	status, got, _ := download(t, dl.GetUrl())
	if status != http.StatusOK || !bytes.Equal(got, body) {
		t.Fatalf("download: %d, %d bytes, want %d", status, len(got), len(body))
	}
	list, err := client.ListFiles(ctx, &presigndv1.ListFilesRequest{})
	if err != nil || len(list.GetFiles()) != 1 {
		t.Fatalf("ListFiles: %v %v", list, err)
	}
	if _, err := client.DeleteFile(ctx, &presigndv1.DeleteFileRequest{FileId: created.GetFile().GetFileId()}); err != nil {
		t.Fatalf("DeleteFile: %v", err)
	}
	if _, err := client.GetFile(ctx, &presigndv1.GetFileRequest{FileId: created.GetFile().GetFileId()}); err == nil {
		t.Fatal("GetFile after delete succeeded")
	}
}
