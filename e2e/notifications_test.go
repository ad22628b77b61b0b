package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"go.yaml.in/yaml/v3"

	"github.com/presignd/presignd/internal/testenv"
)

// freePort returns a loopback port nothing listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startNotifyingMinIO starts a MinIO of its own whose webhook target
// "PRESIGND" posts to endpoint with token (MinIO's environment
// configuration), and returns its URL; it is stopped when t ends.
func startNotifyingMinIO(t *testing.T, endpoint, token string) string {
	t.Helper()
	testenv.Get(t, "PRESIGND_TEST_S3_ENDPOINT", "set it (and _ACCESS_KEY, _SECRET_KEY, _REGION) to run on S3; .ci/run starts MinIO and sets them")
	cache := os.Getenv("PRESIGND_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "presignd")
	}
	bin := testenv.File(t, filepath.Join(cache, "bin", "minio"), "source .ci/minio.sh && minio_start builds it")
	dir := t.TempDir()
	port := freePort(t)
	cmd := exec.Command(bin, "server", filepath.Join(dir, "data"),
		"--address", fmt.Sprintf("127.0.0.1:%d", port), "--console-address", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER=minioadmin", "MINIO_ROOT_PASSWORD=minioadmin123", "MINIO_BROWSER=off",
		"MINIO_NOTIFY_WEBHOOK_ENABLE_PRESIGND=on",
		"MINIO_NOTIFY_WEBHOOK_ENDPOINT_PRESIGND="+endpoint,
		"MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_PRESIGND="+token,
	)
	log := &testenv.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("MinIO output:\n%s", log)
		}
	})
	u := fmt.Sprintf("http://127.0.0.1:%d", port)
	testenv.WaitFor(t, "MinIO ready", func() bool {
		resp, err := http.Get(u + "/minio/health/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return u
}

// TestStorageNotificationsCompleteUploads: on a MinIO configured by the
// test to notify presignd of the objects created under one category's
// prefix, an upload whose client never calls CompleteUpload is READY
// within 5 s (completed by the notification); where MinIO does not
// notify, the sweeper makes an upload whose bytes arrived READY at its
// expiry instead of EXPIRED, and expires the one with no bytes; a
// notification with a wrong secret changes nothing.
func TestStorageNotificationsCompleteUploads(t *testing.T) {
	t.Parallel()
	const token = "e2e-notification-token-0123456789"
	httpPort := freePort(t)
	minioURL := startNotifyingMinIO(t, fmt.Sprintf("http://127.0.0.1:%d/v1/notifications/s3", httpPort), token)
	ctx := context.Background()
	client := s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(minioURL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("minioadmin", "minioadmin123", ""),
	})
	const bucket = "notified"
	// A MinIO just ready may still answer "not initialized" for a moment.
	eventually(t, 30*time.Second, func() (bool, string) {
		_, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)})
		return err == nil, fmt.Sprintf("CreateBucket: %v", err)
	})
	notification := &s3.PutBucketNotificationConfigurationInput{
		Bucket: aws.String(bucket),
		NotificationConfiguration: &types.NotificationConfiguration{QueueConfigurations: []types.QueueConfiguration{{
			QueueArn: aws.String("arn:minio:sqs::PRESIGND:webhook"),
			Events:   []types.Event{"s3:ObjectCreated:*"},
			Filter: &types.NotificationConfigurationFilter{Key: &types.S3KeyFilter{FilterRules: []types.FilterRule{
				{Name: types.FilterRuleNamePrefix, Value: aws.String("dev/notified/")},
			}}},
		}}},
	}
	// MinIO registers its webhook target a moment after it is live: the
	// ARN is unknown until then.
	eventually(t, 30*time.Second, func() (bool, string) {
		_, err := client.PutBucketNotificationConfiguration(ctx, notification)
		return err == nil, fmt.Sprintf("PutBucketNotificationConfiguration: %v", err)
	})
	cfg := map[string]any{
		"backends": map[string]any{"minio": map[string]any{"driver": "s3", "s3": map[string]any{
			"bucket": bucket, "region": "us-east-1", "endpoint": minioURL, "use_path_style": true,
			"access_key_id": "minioadmin", "secret_access_key": "minioadmin123",
		}}},
		"categories": map[string]any{
			"notified": map[string]any{"backend": "minio", "url_ttl": "10m"},
			"quiet":    map[string]any{"backend": "minio", "url_ttl": "10m"},
			"short":    map[string]any{"backend": "minio", "url_ttl": "2s"},
		},
		"sweeper":       map[string]any{"interval": "1s", "grace": "0s"},
		"notifications": map[string]any{"s3_token": token},
		"dev_tenant":    "dev",
	}
	raw, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	inst := start(t, "--config", writeConfig(t, string(raw)), "--http-addr", fmt.Sprintf("127.0.0.1:%d", httpPort))

	// create makes an upload in category and sends body unless it is nil.
	create := func(category string, body []byte) (id, key string) {
		t.Helper()
		code, created := inst.rest(t, "POST", "/v1/uploads", map[string]any{
			"category": category, "filename": "n.txt", "content_type": "text/plain", "size_bytes": 5,
		})
		if code != http.StatusOK {
			t.Fatalf("CreateUpload: %d %v", code, created)
		}
		if body != nil {
			if got := upload(t, targetFromJSON(t, created["upload_target"]), body); got/100 != 2 {
				t.Fatalf("upload: %d", got)
			}
		}
		return str(created, "file.file_id"), str(created, "file.key")
	}
	state := func(id string) (string, string) {
		t.Helper()
		code, got := inst.rest(t, "GET", "/v1/files/"+id, nil)
		if code != http.StatusOK {
			t.Fatalf("GetFile: %d %v", code, got)
		}
		return str(got, "file.state"), str(got, "file.completed_by")
	}
	waitFor := func(id, wantState, wantBy string, within time.Duration) {
		t.Helper()
		eventually(t, within, func() (bool, string) {
			s, by := state(id)
			return s == wantState && by == wantBy, s + " by " + by
		})
	}

	t.Run("a notified upload the client never completes is READY within 5s", func(t *testing.T) {
		id, key := create("notified", []byte("hello"))
		if !strings.HasPrefix(key, "dev/notified/") {
			t.Fatalf("key %q is not under the notified prefix", key)
		}
		uploaded := time.Now()
		waitFor(id, "FILE_STATE_READY", "notification", 5*time.Second)
		t.Logf("READY %s after the upload answered", time.Since(uploaded).Round(time.Millisecond))
	})

	t.Run("a notification with a wrong secret changes nothing", func(t *testing.T) {
		id, key := create("quiet", []byte("hello"))
		body := fmt.Sprintf(`{"EventName":"s3:ObjectCreated:Put","Records":[{"eventName":"s3:ObjectCreated:Put","s3":{"bucket":{"name":%q},"object":{"key":%q}}}]}`,
			bucket, url.QueryEscape(key))
		for _, auth := range []string{"Bearer wrong-" + token, "", token} {
			req, _ := http.NewRequest(http.MethodPost, inst.HTTPURL+"/v1/notifications/s3", strings.NewReader(body))
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("Authorization %q: status %d, want 401", auth, resp.StatusCode)
			}
		}
		if s, by := state(id); s != "FILE_STATE_PENDING" || by != "" {
			t.Fatalf("after forged notifications: %s by %q, want PENDING", s, by)
		}
		_, metrics, _ := httpGet(t, inst.HTTPURL+"/metrics")
		if !strings.Contains(metrics, `presignd_notifications_total{result="unauthorized",source="s3"} 3`) {
			t.Fatalf("metrics do not count the 3 forged notifications:\n%s", grepLines(metrics, "presignd_notifications_total"))
		}
	})

	t.Run("without a notification the sweeper makes it READY instead of EXPIRED", func(t *testing.T) {
		arrived, _ := create("short", []byte("hello"))
		missing, _ := create("short", nil)
		waitFor(arrived, "FILE_STATE_READY", "sweeper", 30*time.Second)
		waitFor(missing, "FILE_STATE_EXPIRED", "", 30*time.Second)
	})
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestCompleteOnUploadOnTheLocalBackend: in a complete_on_upload category
// the file is READY (completed by "upload") when the PUT answers.
func TestCompleteOnUploadOnTheLocalBackend(t *testing.T) {
	t.Parallel()
	inst := start(t, "--config", writeConfig(t, "categories:\n  instant:\n    complete_on_upload: true\n"))
	code, created := inst.rest(t, "POST", "/v1/uploads", map[string]any{
		"category": "instant", "filename": "i.txt", "content_type": "text/plain", "size_bytes": 5,
	})
	if code != http.StatusOK {
		t.Fatalf("CreateUpload: %d %v", code, created)
	}
	if got := upload(t, targetFromJSON(t, created["upload_target"]), []byte("hello")); got/100 != 2 {
		t.Fatalf("upload: %d", got)
	}
	code, got := inst.rest(t, "GET", "/v1/files/"+str(created, "file.file_id"), nil)
	if code != http.StatusOK || str(got, "file.state") != "FILE_STATE_READY" || str(got, "file.completed_by") != "upload" {
		t.Fatalf("after the PUT: %d %s by %q", code, str(got, "file.state"), str(got, "file.completed_by"))
	}
}
