package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	presigndv1 "github.com/presignd/presignd/gen/presignd/v1"
)

// writeConfig writes a YAML config into a temp dir and returns its path.
func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "presignd.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func httpGet(t *testing.T, u string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header
}

// signatureParams are the query parameters whose values make a signed URL
// usable, on every backend.
var signatureParams = []string{"signature", "X-Amz-Signature", "X-Amz-Credential", "X-Goog-Signature", "X-Goog-Credential"}

// secretsOf returns the signature values of a signed URL.
func secretsOf(t *testing.T, raw string) []string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range signatureParams {
		if v := u.Query().Get(p); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// TestLogsNeverCarrySignatures runs whole flows over REST and gRPC with
// debug logging, including refused and expired targets, and finds no
// signature of any issued URL in the process's output.
func TestLogsNeverCarrySignatures(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			inst := start(t, "--config", writeConfig(t, "log: {level: debug, format: "+format+"}\n"))
			var secrets []string
			body := []byte("secret bytes\n")

			// REST: create, upload, complete, download, with a request id.
			req, _ := http.NewRequest("POST", inst.HTTPURL+"/v1/uploads", strings.NewReader(`{"filename": "a.txt", "content_type": "text/plain", "size_bytes": 13}`))
			req.Header.Set("Authorization", "Bearer "+inst.APIKey)
			req.Header.Set("X-Request-Id", "e2e-redaction-42")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var created map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&created); err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("CreateUpload: %d %v", resp.StatusCode, created)
			}
			if got := resp.Header.Get("X-Request-Id"); got != "e2e-redaction-42" {
				t.Errorf("X-Request-Id = %q, want the caller's", got)
			}
			target := targetFromJSON(t, created["upload_target"])
			secrets = append(secrets, secretsOf(t, target.URL)...)
			// A tampered and a wrong-size upload are refused (and may be logged).
			tampered := target
			tampered.URL = strings.Replace(target.URL, "signature=", "signature=AAAA", 1)
			if code := upload(t, tampered, body); code/100 == 2 {
				t.Fatalf("tampered upload accepted: %d", code)
			}
			if code := upload(t, target, append(body, 'x')); code/100 == 2 {
				t.Fatalf("oversized upload accepted: %d", code)
			}
			if code := upload(t, target, body); code/100 != 2 {
				t.Fatalf("upload: %d", code)
			}
			id := str(created, "file.file_id")
			if code, c := inst.rest(t, "POST", "/v1/files/"+id+":complete", nil); code != http.StatusOK {
				t.Fatalf("complete: %d %v", code, c)
			}
			code, dl := inst.rest(t, "POST", "/v1/files/"+id+":download", map[string]any{})
			if code != http.StatusOK {
				t.Fatalf("download url: %d %v", code, dl)
			}
			secrets = append(secrets, secretsOf(t, str(dl, "url"))...)
			if status, got, _ := download(t, str(dl, "url")); status != http.StatusOK || string(got) != string(body) {
				t.Fatalf("download: %d %q", status, got)
			}
			if status, _, _ := download(t, strings.Replace(str(dl, "url"), "signature=", "signature=B", 1)); status == http.StatusOK {
				t.Fatal("tampered download accepted")
			}

			// gRPC: create and download URL.
			client := inst.grpcClient(t)
			ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+inst.APIKey)
			var hdr metadata.MD
			g, err := client.CreateUpload(ctx, &presigndv1.CreateUploadRequest{Filename: "b.txt", ContentType: "text/plain", SizeBytes: 3}, grpcHeader(&hdr))
			if err != nil {
				t.Fatal(err)
			}
			if len(hdr.Get("x-request-id")) != 1 || hdr.Get("x-request-id")[0] == "" {
				t.Errorf("gRPC response header x-request-id = %v, want a generated id", hdr.Get("x-request-id"))
			}
			secrets = append(secrets, secretsOf(t, g.GetUploadTarget().GetUrl())...)
			d, err := client.CreateDownloadUrl(ctx, &presigndv1.CreateDownloadUrlRequest{FileId: id})
			if err != nil {
				t.Fatal(err)
			}
			secrets = append(secrets, secretsOf(t, d.GetUrl())...)

			if len(secrets) < 4 {
				t.Fatalf("found only %d signatures in the issued URLs: %v", len(secrets), secrets)
			}
			inst.stop(t)
			out := inst.output.String()
			for _, s := range secrets {
				if strings.Contains(out, s) || strings.Contains(out, url.QueryEscape(s)) {
					t.Errorf("signature %q appears in the log", s)
				}
			}
			if !strings.Contains(out, "e2e-redaction-42") {
				t.Errorf("the caller's request id is not in the log:\n%s", out)
			}
			if !regexp.MustCompile(`(?i)level.{0,3}DEBUG`).MatchString(out) {
				t.Errorf("no debug line was logged at log level debug, so the test proves nothing about debug lines:\n%s", out)
			}
		})
	}
}

// TestMetricsOpenAPIAndDocs checks /metrics after a flow, the OpenAPI
// document and the docs page, which loads nothing from elsewhere.
func TestMetricsOpenAPIAndDocs(t *testing.T) {
	t.Parallel()
	inst := start(t)
	body := []byte("abc")
	code, created := inst.rest(t, "POST", "/v1/uploads", map[string]any{"filename": "m.txt", "content_type": "text/plain", "size_bytes": 3})
	if code != http.StatusOK {
		t.Fatalf("CreateUpload: %d %v", code, created)
	}
	if c := upload(t, targetFromJSON(t, created["upload_target"]), body); c/100 != 2 {
		t.Fatalf("upload: %d", c)
	}
	if code, c := inst.rest(t, "POST", "/v1/files/"+str(created, "file.file_id")+":complete", nil); code != http.StatusOK {
		t.Fatalf("complete: %d %v", code, c)
	}
	inst.rest(t, "GET", "/v1/files/nope", nil)

	status, metrics, _ := httpGet(t, inst.HTTPURL+"/metrics")
	if status != http.StatusOK {
		t.Fatalf("/metrics: %d", status)
	}
	// The SQLite store's name indexing backlog (0 or 1 here, depending on
	// whether the indexer has run since the create).
	if !regexp.MustCompile(`(?m)^presignd_sqlite_name_index_backlog_files [01]$`).MatchString(metrics) {
		t.Errorf("/metrics lacks presignd_sqlite_name_index_backlog_files 0 or 1")
	}
	for _, want := range []string{
		`grpc_server_handled_total{grpc_code="OK",grpc_method="CreateUpload",grpc_service="presignd.v1.FileService",grpc_type="unary"} 1`,
		`grpc_server_handled_total{grpc_code="NotFound",grpc_method="GetFile",grpc_service="presignd.v1.FileService",grpc_type="unary"} 1`,
		`grpc_server_handling_seconds_count{grpc_method="CompleteUpload",grpc_service="presignd.v1.FileService",grpc_type="unary"} 1`,
		`presignd_uploads_total{state="PENDING"} 1`,
		`presignd_sqlite_create_commits_total 1`,
		`presignd_sqlite_created_files_total 1`,
		`presignd_uploads_total{state="READY"} 1`,
		`presignd_signer_duration_seconds_count{backend="local",operation="sign_upload",result="ok"} 1`,
		`presignd_signer_duration_seconds_count{backend="local",operation="stat",result="ok"} 1`,
		`process_resident_memory_bytes`,
		`go_goroutines`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	status, doc, hdr := httpGet(t, inst.HTTPURL+"/openapi.json")
	if status != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
		t.Fatalf("/openapi.json: %d %s", status, hdr.Get("Content-Type"))
	}
	var spec struct {
		Swagger string                    `json:"swagger"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal([]byte(doc), &spec); err != nil {
		t.Fatal(err)
	}
	if spec.Swagger != "2.0" || spec.Paths["/v1/uploads"]["post"] == nil || spec.Paths["/v1/files/{file_id}"]["get"] == nil {
		t.Errorf("/openapi.json lacks the API: swagger %q, %d paths", spec.Swagger, len(spec.Paths))
	}

	status, page, _ := httpGet(t, inst.HTTPURL+"/docs")
	if status != http.StatusOK || !strings.Contains(page, `fetch("/openapi.json")`) {
		t.Fatalf("/docs: %d", status)
	}
	if m := regexp.MustCompile(`(?i)(src|href)=["']?(https?:)?//`).FindString(page); m != "" {
		t.Errorf("/docs loads something from elsewhere: %s", m)
	}

	status, echo, _ := httpGet(t, inst.HTTPURL+"/v1/health")
	if status != http.StatusOK || !strings.Contains(echo, `"SERVING"`) {
		t.Errorf("/v1/health: %d %s", status, echo)
	}
}

// TestReadyzNamesAnUnreachableBackend: /readyz checks every backend, not
// only the store.
func TestReadyzNamesAnUnreachableBackend(t *testing.T) {
	t.Parallel()
	inst := start(t, "--config", writeConfig(t, `
backends:
  local: {driver: local}
  gone:
    driver: s3
    s3: {bucket: b, region: us-east-1, endpoint: "http://127.0.0.1:9", use_path_style: true, access_key_id: a, secret_access_key: b}
categories:
  default: {backend: local}
`))
	status, body, _ := httpGet(t, inst.HTTPURL+"/readyz")
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "backend gone") || strings.Contains(body, "backend local") {
		t.Fatalf("/readyz = %d %q, want 503 naming backend gone only", status, body)
	}
	if status, _, _ := httpGet(t, inst.HTTPURL+"/healthz"); status != http.StatusOK {
		t.Errorf("/healthz = %d, want 200 (the process is alive)", status)
	}
}

// TestEnvironmentOverridesTheFile: PRESIGND_* variables beat the file,
// flags beat both, and a bad value names the variable.
func TestEnvironmentOverridesTheFile(t *testing.T) {
	t.Setenv("PRESIGND_LOG_FORMAT", "json")
	t.Setenv("PRESIGND_HTTP_ADDR", "127.0.0.1:1") // the flag start passes wins
	inst := start(t, "--config", writeConfig(t, "log: {format: text}\n"))
	inst.stop(t)
	if !strings.Contains(inst.output.String(), `"msg":"presignd started"`) {
		t.Errorf("PRESIGND_LOG_FORMAT=json did not override the file:\n%s", inst.output)
	}

	t.Setenv("PRESIGND_LOG_LEVEL", "loud")
	out, err := runBinary(t, "config", "check", writeConfig(t, "log: {level: info}\n"))
	if err == nil || !strings.Contains(out, "log.level (PRESIGND_LOG_LEVEL)") {
		t.Errorf("config check with a bad PRESIGND_LOG_LEVEL: err %v, output %q", err, out)
	}
}

// runBinary runs presignd with args and returns its combined output.
func runBinary(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(binary, args...).CombinedOutput()
	return string(out), err
}

// grpcHeader captures a call's response header.
func grpcHeader(md *metadata.MD) grpc.CallOption { return grpc.Header(md) }
