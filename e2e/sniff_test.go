package e2e

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"go.yaml.in/yaml/v3"
)

var (
	// sniffPDF is a small, valid PDF.
	sniffPDF = []byte("%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\nxref\n0 3\n0000000000 65535 f \n0000000009 00000 n \n0000000058 00000 n \ntrailer\n<< /Size 3 /Root 1 0 R >>\nstartxref\n109\n%%EOF\n")
	// sniffPNG is a 1×1 PNG.
	sniffPNG = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")
	// sniffEXE is a Windows executable's header: the MZ (DOS) stub whose
	// e_lfanew points at the PE signature and a COFF header.
	sniffEXE = func() []byte {
		b := make([]byte, 2048)
		copy(b, "MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00\xb8")
		copy(b[0x40:], "\x0e\x1f\xba\x0e\x00\xb4\x09\xcd\x21\xb8\x01\x4c\xcd\x21This program cannot be run in DOS mode.\r\r\n$")
		b[0x3c] = 0x80
		copy(b[0x80:], "PE\x00\x00\x4c\x01\x03\x00")
		return b
	}()
)

// startSniffing runs presignd with a documents-and-images category that
// sniffs content ("docs") and one that does not ("plain"), on backend.
func startSniffing(t *testing.T, backend map[string]any) *instance {
	t.Helper()
	types := []string{"application/pdf", "image/*"}
	cfg := map[string]any{
		"backends": map[string]any{"store": backend},
		"categories": map[string]any{
			"docs":  map[string]any{"backend": "store", "content_types": types, "sniff_content": true},
			"plain": map[string]any{"backend": "store", "content_types": types},
		},
	}
	raw, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return start(t, "--config", writeConfig(t, string(raw)))
}

// runSniffing uploads and completes each case over REST and checks the
// file's state, reason and detected type, and whether its object is
// still stored (exists).
func runSniffing(t *testing.T, inst *instance, exists func(t *testing.T, key string) bool) {
	for _, tc := range []struct {
		name, category, declared string
		body                     []byte
		ready                    bool
		detected                 string
	}{
		{"a Windows executable declared as PDF ends FAILED naming both types, and its object is gone", "docs", "application/pdf", sniffEXE, false, "application/vnd.microsoft.portable-executable"},
		{"a real PDF passes", "docs", "application/pdf", sniffPDF, true, "application/pdf"},
		{"a PNG in an image category passes", "docs", "image/png", sniffPNG, true, "image/png"},
		{"the check is off for a category that does not ask", "plain", "application/pdf", sniffEXE, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, created := inst.rest(t, "POST", "/v1/uploads", map[string]any{
				"category": tc.category, "filename": "f", "content_type": tc.declared, "size_bytes": len(tc.body),
			})
			if code != http.StatusOK {
				t.Fatalf("CreateUpload: %d %v", code, created)
			}
			if code := upload(t, targetFromJSON(t, created["upload_target"]), tc.body); code/100 != 2 {
				t.Fatalf("upload: %d", code)
			}
			f := completeREST(t, inst, str(created, "file.file_id"))
			key := str(f, "key")
			if got := str(f, "detected_content_type"); got != tc.detected {
				t.Errorf("detected_content_type %q, want %q", got, tc.detected)
			}
			if !tc.ready {
				reason := str(f, "failure_reason")
				if str(f, "state") != "FILE_STATE_FAILED" || !strings.Contains(reason, tc.declared) || !strings.Contains(reason, tc.detected) {
					t.Fatalf("file %s with reason %q, want FAILED naming %q and %q", str(f, "state"), reason, tc.declared, tc.detected)
				}
				if exists(t, key) {
					t.Error("the refused object is still stored")
				}
				code, body := inst.rest(t, "POST", "/v1/files/"+str(f, "file_id")+":download", nil)
				if code == http.StatusOK {
					t.Errorf("download URL of the FAILED file: %d %v, want a refusal", code, body)
				}
				return
			}
			if str(f, "state") != "FILE_STATE_READY" {
				t.Fatalf("file %s (%q), want READY", str(f, "state"), str(f, "failure_reason"))
			}
			if !exists(t, key) {
				t.Error("the accepted object is gone")
			}
			if got := downloadREST(t, inst, str(f, "file_id")); string(got) != string(tc.body) {
				t.Errorf("download returned %d bytes, want the %d uploaded", len(got), len(tc.body))
			}
		})
	}
}

// TestContentSniffing: issue 21's proof on the local backend.
func TestContentSniffing(t *testing.T) {
	t.Parallel()
	inst := startSniffing(t, map[string]any{"driver": "local"})
	runSniffing(t, inst, func(t *testing.T, key string) bool {
		_, err := os.Stat(filepath.Join(inst.DataDir, "backends", "store", "objects", filepath.FromSlash(key)))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		return err == nil
	})
}

// TestContentSniffingOnS3: issue 21's proof on MinIO.
func TestContentSniffingOnS3(t *testing.T) {
	t.Parallel()
	backend := s3Backend(t)
	conf := backend["s3"].(map[string]any)
	client := s3.New(s3.Options{
		Region: conf["region"].(string), BaseEndpoint: aws.String(conf["endpoint"].(string)), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(conf["access_key_id"].(string), conf["secret_access_key"].(string), ""),
	})
	inst := startSniffing(t, backend)
	runSniffing(t, inst, func(t *testing.T, key string) bool {
		_, err := client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(conf["bucket"].(string)), Key: aws.String(key)})
		var nf *types.NotFound
		if err != nil && !errors.As(err, &nf) {
			t.Fatal(err)
		}
		return err == nil
	})
}
