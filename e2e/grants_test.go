package e2e

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"go.yaml.in/yaml/v3"
)

// startGrants runs presignd with one backend and two categories on it,
// "put" and "post", and a sweeper that runs every second.
func startGrants(t *testing.T, backend map[string]any) *instance {
	t.Helper()
	cfg := map[string]any{
		"backends": map[string]any{"store": backend},
		"categories": map[string]any{
			"put":  map[string]any{"backend": "store", "url_ttl": "10m", "content_types": []string{"text/plain"}},
			"post": map[string]any{"backend": "store", "url_ttl": "10m", "content_types": []string{"text/plain"}, "method": "POST", "max_size": "1MiB"},
		},
		"sweeper": map[string]any{"interval": "1s", "grace": "1s"},
	}
	raw, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return start(t, "--config", writeConfig(t, string(raw)))
}

// metric reads a counter from the instance's /metrics (0 when absent).
func (inst *instance) metric(t *testing.T, name string) float64 {
	t.Helper()
	v, _ := inst.lookupMetric(t, name)
	return v
}

// lookupMetric reads an unlabelled metric from the instance's /metrics and
// reports whether it is there.
func (inst *instance) lookupMetric(t *testing.T, name string) (float64, bool) {
	t.Helper()
	code, body, _ := httpGet(t, inst.HTTPURL+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return f, true
		}
	}
	return 0, false
}

// waitForSweep returns once a whole sweep has run after the call.
func (inst *instance) waitForSweep(t *testing.T) {
	t.Helper()
	target := inst.metric(t, "presignd_sweeper_sweeps_total") + 2
	deadline := time.Now().Add(30 * time.Second)
	for inst.metric(t, "presignd_sweeper_sweeps_total") < target {
		if time.Now().After(deadline) {
			t.Fatalf("no sweep ran within 30s:\n%s", inst.output)
		}
		time.Sleep(50 * time.Millisecond) // polling /metrics; the deadline bounds the wait
	}
}

// TestUploadTargetDoesNotOutliveItsFile: after DeleteFile, or after
// CompleteUpload failed the file, the same upload target is sent the full
// bytes again. On the local backend it answers 410 and stores nothing; on
// S3 (which cannot revoke a presigned URL) it stores them and the next
// sweep deletes them. Either way no bytes survive a sweep, usage stays
// true, and the download URL issued before the delete never serves them
// after it.
func TestUploadTargetDoesNotOutliveItsFile(t *testing.T) {
	t.Parallel()
	t.Run("local", func(t *testing.T) {
		inst := startGrants(t, map[string]any{"driver": "local"})
		runSpentTargets(t, inst, true, func(key string) bool {
			_, err := os.Stat(filepath.Join(inst.DataDir, "objects", "store", "objects", filepath.FromSlash(key)))
			return err == nil
		})
	})
	t.Run("S3", func(t *testing.T) {
		backend := s3Backend(t)
		inst := startGrants(t, backend)
		conf := backend["s3"].(map[string]any)
		client := s3.New(s3.Options{
			Region: conf["region"].(string), BaseEndpoint: aws.String(conf["endpoint"].(string)), UsePathStyle: true,
			Credentials: credentials.NewStaticCredentialsProvider(conf["access_key_id"].(string), conf["secret_access_key"].(string), ""),
		})
		runSpentTargets(t, inst, false, func(key string) bool {
			_, err := client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(conf["bucket"].(string)), Key: aws.String(key)})
			var nf *types.NotFound
			if err != nil && !errors.As(err, &nf) {
				t.Fatalf("HeadObject %s: %v", key, err)
			}
			return err == nil
		})
	})
}

func runSpentTargets(t *testing.T, inst *instance, revokes bool, exists func(key string) bool) {
	body := []byte("the declared bytes, all of them")
	late := 0.0
	for _, tc := range []struct {
		name     string
		category string
		first    []byte
		delete   bool
	}{
		{"deleted READY file, PUT target", "put", body, true},
		{"deleted READY file, POST target", "post", body, true},
		{"FAILED file (short upload), POST target", "post", body[:4], false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, created := inst.rest(t, "POST", "/v1/uploads", map[string]any{
				"category": tc.category, "filename": "a.txt", "content_type": "text/plain", "size_bytes": len(body),
			})
			if code != http.StatusOK {
				t.Fatalf("CreateUpload: %d %v", code, created)
			}
			id, key := str(created, "file.file_id"), str(created, "file.key")
			target := targetFromJSON(t, created["upload_target"])
			if code := upload(t, target, tc.first); code/100 != 2 {
				t.Fatalf("first upload: %d", code)
			}
			f := completeREST(t, inst, id)
			oldURL := ""
			if tc.delete {
				if str(f, "state") != "FILE_STATE_READY" {
					t.Fatalf("complete: %v", f)
				}
				code, dl := inst.rest(t, "POST", "/v1/files/"+id+":download", nil)
				if code != http.StatusOK {
					t.Fatalf("CreateDownloadUrl: %d %v", code, dl)
				}
				oldURL = str(dl, "url")
				if code, _ := inst.rest(t, "DELETE", "/v1/files/"+id, nil); code != http.StatusOK {
					t.Fatalf("DeleteFile: %d", code)
				}
			} else if str(f, "state") != "FILE_STATE_FAILED" {
				t.Fatalf("short upload completed as %v, want FAILED", f)
			}

			replay := upload(t, target, body)
			switch {
			case revokes && replay != http.StatusGone:
				t.Errorf("the same target again: %d, want 410", replay)
			case !revokes && replay/100 != 2:
				t.Fatalf("S3 refused the replay (%d): the test shows nothing", replay)
			case !revokes:
				late++
			}
			inst.waitForSweep(t)
			if exists(key) {
				t.Errorf("the replayed bytes survived a sweep")
			}
			if oldURL != "" {
				if code, got, _ := download(t, oldURL); code == http.StatusOK {
					t.Errorf("the download URL issued before the delete serves %q", got)
				}
			}
			code, usage := inst.rest(t, "GET", "/v1/usage", nil)
			if code != http.StatusOK || str(usage, "bytes_used") != "0" || str(usage, "file_count") != "0" {
				t.Errorf("usage after the replay: %d %v, want 0 files and 0 bytes", code, usage)
			}
			if got := inst.metric(t, "presignd_sweeper_late_uploads_deleted_total"); got != late {
				t.Errorf("presignd_sweeper_late_uploads_deleted_total = %v, want %v", got, late)
			}
		})
	}
}

// TestStorageURIHidesDiskPath: the local backend's storage_uri names the
// object within its backend, not the server's data dir.
func TestStorageURIHidesDiskPath(t *testing.T) {
	t.Parallel()
	inst := startGrants(t, map[string]any{"driver": "local"})
	code, created := inst.rest(t, "POST", "/v1/uploads", map[string]any{"category": "put", "filename": "a.txt", "content_type": "text/plain", "size_bytes": 3})
	if code != http.StatusOK {
		t.Fatalf("CreateUpload: %d %v", code, created)
	}
	uri := str(created, "file.storage_uri")
	if uri != "local://store/"+str(created, "file.key") || strings.Contains(uri, inst.DataDir) {
		t.Errorf("storage_uri %q, want local://store/<key>, without the data dir %s", uri, inst.DataDir)
	}
}

// TestSecondServeOnTheSameDataDirIsRefused: a second presignd on a data dir
// another one serves exits at once, naming the dir, and the first keeps
// serving.
func TestSecondServeOnTheSameDataDirIsRefused(t *testing.T) {
	t.Parallel()
	first := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	second := exec.CommandContext(ctx, binary, "serve", "--data-dir", first.DataDir, "--http-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0")
	out, err := second.CombinedOutput()
	if err == nil || ctx.Err() != nil {
		t.Fatalf("second presignd on the same data dir: err %v (context %v), want a prompt failure; output:\n%s", err, ctx.Err(), out)
	}
	if !strings.Contains(string(out), first.DataDir) || !strings.Contains(string(out), "another presignd") {
		t.Errorf("second presignd's output does not name the dir and the other presignd:\n%s", out)
	}
	if code, _, _ := httpGet(t, first.HTTPURL+"/healthz"); code != http.StatusOK {
		t.Errorf("first presignd after the refused second: /healthz %d", code)
	}
}

// TestUnreachableBackendIsUnavailable: CompleteUpload on a backend that
// cannot be reached answers 503 with Retry-After, not 500, and the file
// stays PENDING; the cause is logged with the request id.
func TestUnreachableBackendIsUnavailable(t *testing.T) {
	t.Parallel()
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	inst := startGrants(t, map[string]any{"driver": "s3", "s3": map[string]any{
		"bucket": "nowhere", "region": "us-east-1", "endpoint": down.URL, "use_path_style": true,
		"access_key_id": "AKIDEXAMPLE", "secret_access_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
	}})
	code, created := inst.rest(t, "POST", "/v1/uploads", map[string]any{"category": "put", "filename": "a.txt", "content_type": "text/plain", "size_bytes": 3})
	if code != http.StatusOK {
		t.Fatalf("CreateUpload: %d %v", code, created)
	}
	id := str(created, "file.file_id")
	req, _ := http.NewRequest(http.MethodPost, inst.HTTPURL+"/v1/files/"+id+":complete", strings.NewReader("{}"))
	req.Header.Set("Authorization", "Bearer "+inst.APIKey)
	req.Header.Set("X-Request-Id", "e2e-unreachable-backend")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("CompleteUpload with the backend down: %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if code, got := inst.rest(t, "GET", "/v1/files/"+id, nil); code != http.StatusOK || str(got, "file.state") != "FILE_STATE_PENDING" {
		t.Errorf("file after the backend failed: %d %v, want PENDING", code, got)
	}
	logged := false
	for _, line := range strings.Split(inst.output.String(), "\n") {
		if strings.Contains(line, "e2e-unreachable-backend") && strings.Contains(line, "storage backend unavailable") && strings.Contains(line, "connection refused") {
			logged = true
		}
	}
	if !logged {
		t.Errorf("no log line with the request id and the cause:\n%s", inst.output)
	}
}

// TestCompleteUploadBeforeTheBytesArrived: CompleteUpload before the bytes
// answers 409 and keeps the file PENDING; the upload then succeeds and
// completes READY.
func TestCompleteUploadBeforeTheBytesArrived(t *testing.T) {
	t.Parallel()
	inst := startGrants(t, map[string]any{"driver": "local"})
	body := []byte("abc")
	code, created := inst.rest(t, "POST", "/v1/uploads", map[string]any{"category": "put", "filename": "a.txt", "content_type": "text/plain", "size_bytes": len(body)})
	if code != http.StatusOK {
		t.Fatalf("CreateUpload: %d %v", code, created)
	}
	id := str(created, "file.file_id")
	completeBeforeBytes(t, inst, id)
	if code := upload(t, targetFromJSON(t, created["upload_target"]), body); code != http.StatusOK {
		t.Fatalf("upload after the early complete: %d", code)
	}
	if f := completeREST(t, inst, id); str(f, "state") != "FILE_STATE_READY" {
		t.Fatalf("complete after the bytes: %v, want READY", f)
	}
}
