package e2e

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.yaml.in/yaml/v3"

	"github.com/presignd/presignd/signer"
)

// TestSweeperAbortsAbandonedMultipartUploads: a multipart upload with one
// part sent and never completed is EXPIRED by the sweeper once its
// multipart upload_ttl (plus grace) has passed, its upload is aborted on
// the backend (counted with its bytes), and on S3 the bucket lists no
// multipart upload afterwards (on Azure, the container no staging blob).
func TestSweeperAbortsAbandonedMultipartUploads(t *testing.T) {
	t.Parallel()
	t.Run("local", func(t *testing.T) {
		t.Parallel()
		runAbandonedMultipart(t, map[string]any{"driver": "local"}, nil)
	})
	t.Run("S3", func(t *testing.T) {
		t.Parallel()
		backend := s3Backend(t)
		conf := backend["s3"].(map[string]any)
		client := s3.New(s3.Options{
			Region: conf["region"].(string), BaseEndpoint: aws.String(conf["endpoint"].(string)), UsePathStyle: true,
			Credentials: credentials.NewStaticCredentialsProvider(conf["access_key_id"].(string), conf["secret_access_key"].(string), ""),
		})
		runAbandonedMultipart(t, backend, func() int {
			out, err := client.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(conf["bucket"].(string))})
			if err != nil {
				t.Fatalf("ListMultipartUploads: %v", err)
			}
			return len(out.Uploads)
		})
	})
	t.Run("Azure", func(t *testing.T) {
		t.Parallel()
		backend := azureBackend(t)
		conf := backend["azure"].(map[string]any)
		cred, err := container.NewSharedKeyCredential(conf["account"].(string), conf["account_key"].(string))
		if err != nil {
			t.Fatal(err)
		}
		client, err := container.NewClientWithSharedKeyCredential(conf["endpoint"].(string)+"/"+conf["container"].(string), cred, nil)
		if err != nil {
			t.Fatal(err)
		}
		// An Azure multipart upload is its staging blob.
		runAbandonedMultipart(t, backend, func() int {
			n := 0
			pager := client.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: to.Ptr("~multipart/")})
			for pager.More() {
				page, err := pager.NextPage(context.Background())
				if err != nil {
					t.Fatalf("list blobs: %v", err)
				}
				n += len(page.Segment.BlobItems)
			}
			return n
		})
	})
}

// runAbandonedMultipart abandons a multipart upload on backend; uploads,
// when not nil, counts the multipart uploads the backend holds.
func runAbandonedMultipart(t *testing.T, backend map[string]any, uploads func() int) {
	cfg := map[string]any{
		"backends": map[string]any{"store": backend},
		"categories": map[string]any{
			"big": map[string]any{"backend": "store", "url_ttl": "10m", "max_size": "1GiB",
				"multipart": map[string]any{"upload_ttl": "1m"}},
		},
		"sweeper": map[string]any{"interval": "1s", "grace": "1s"},
	}
	raw, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	inst := start(t, "--config", writeConfig(t, string(raw)))

	const size = 12 << 20
	code, created := inst.rest(t, "POST", "/v1/uploads", map[string]any{
		"category": "big", "filename": "big.bin", "content_type": "application/octet-stream", "size_bytes": size,
		"method": "UPLOAD_METHOD_MULTIPART",
	})
	if code != http.StatusOK {
		t.Fatalf("CreateUpload: %d %v", code, created)
	}
	id := str(created, "file.file_id")
	parts, _ := field(created, "upload_target.parts").([]any)
	if len(parts) < 2 {
		t.Fatalf("CreateUpload answered %d part targets, want at least 2: %v", len(parts), created["upload_target"])
	}
	first := signer.UploadTarget{Method: http.MethodPut, URL: str(parts[0], "url"), Headers: map[string]string{}}
	if h, ok := field(parts[0], "headers").(map[string]any); ok {
		for k, v := range h {
			first.Headers[k] = v.(string)
		}
	}
	partSize := jsonInt(t, field(created, "upload_target.multipart.part_size_bytes"))
	if code := upload(t, first, bytes.Repeat([]byte("p"), partSize)); code/100 != 2 {
		t.Fatalf("PUT part 1: %d", code)
	}
	if uploads != nil && uploads() != 1 {
		t.Fatalf("the backend holds %d multipart uploads before the sweep, want 1", uploads())
	}

	// upload_ttl is a minute: the sweeper expires the file after it (and
	// the grace), and aborts its upload.
	aborted := `presignd_sweeper_multipart_aborted_total{reason="expired"}`
	eventually(t, 2*time.Minute, func() (bool, string) {
		_, f := inst.rest(t, "GET", "/v1/files/"+id, nil)
		return str(f, "file.state") == "FILE_STATE_EXPIRED" && inst.metric(t, aborted) == 1,
			"file " + str(f, "file.state") + ", aborted " + strconv.FormatFloat(inst.metric(t, aborted), 'g', -1, 64)
	})
	if got := inst.metric(t, `presignd_sweeper_multipart_aborted_bytes_total{reason="expired"}`); got != float64(partSize) {
		t.Errorf("multipart_aborted_bytes_total{reason=expired} = %v, want the part's %d bytes", got, partSize)
	}
	if uploads != nil {
		if n := uploads(); n != 0 {
			t.Errorf("the backend holds %d multipart uploads after the sweep, want none", n)
		}
	}
}

// jsonInt reads an integer protojson wrote: a number, or a string for an
// int64.
func jsonInt(t *testing.T, v any) int {
	t.Helper()
	switch n := v.(type) {
	case float64:
		return int(n)
	case string:
		i, err := strconv.Atoi(n)
		if err != nil {
			t.Fatalf("integer %q: %v", n, err)
		}
		return i
	}
	t.Fatalf("not an integer: %#v", v)
	return 0
}
