package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/presignd/presignd/internal/testenv"
	"github.com/presignd/presignd/signer/gcs/gcstest"
)

// s3Backend creates a fresh bucket on the S3 server named by
// PRESIGND_TEST_S3_* (MinIO in CI) and returns a backend configuration
// for it; the bucket is emptied and removed when t ends.
func s3Backend(t *testing.T) map[string]any {
	t.Helper()
	endpoint := testenv.Get(t, "PRESIGND_TEST_S3_ENDPOINT", "set it (and _ACCESS_KEY, _SECRET_KEY, _REGION) to run on S3; .ci/run starts MinIO and sets them")
	region := os.Getenv("PRESIGND_TEST_S3_REGION")
	if region == "" {
		region = "us-east-1"
	}
	access, secret := os.Getenv("PRESIGND_TEST_S3_ACCESS_KEY"), os.Getenv("PRESIGND_TEST_S3_SECRET_KEY")
	client := s3.New(s3.Options{
		Region:       region,
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(access, secret, ""),
	})
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	bucket := "presignd-e2e-" + hex.EncodeToString(rnd[:])
	ctx := context.Background()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		p := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Errorf("list bucket: %v", err)
				return
			}
			var ids []types.ObjectIdentifier
			for _, o := range page.Contents {
				ids = append(ids, types.ObjectIdentifier{Key: o.Key})
			}
			if len(ids) > 0 {
				_, _ = client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(bucket), Delete: &types.Delete{Objects: ids}})
			}
		}
		_, _ = client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)})
	})
	return map[string]any{"driver": "s3", "s3": map[string]any{
		"bucket": bucket, "region": region, "endpoint": endpoint, "use_path_style": true,
		"access_key_id": access, "secret_access_key": secret,
	}}
}

// TestSeedsOnS3 runs seed profiles 000, 002 and 004 on a real S3 server.
func TestSeedsOnS3(t *testing.T) {
	t.Parallel()
	t.Run("kyc-documents", func(t *testing.T) { runKYCDocuments(t, startExample(t, "kyc-documents", s3Backend(t))) })
	t.Run("post-policy-upload", func(t *testing.T) {
		runPostPolicyUpload(t, startExample(t, "post-policy-upload", s3Backend(t)))
	})
	t.Run("direct-upload", func(t *testing.T) {
		runDirectUpload(t, startExample(t, "direct-upload", s3Backend(t)), "Content-Disposition")
	})
}

// TestSeedReleaseFormsOnGCS runs seed profile 001 on GCS: an in-process
// fake-gcs-server behind a handler that verifies V4 signatures as GCS does.
func TestSeedReleaseFormsOnGCS(t *testing.T) {
	t.Parallel()
	fake := gcstest.NewServer(t, "verification-api-storage")
	creds := filepath.Join(t.TempDir(), "service-account.json")
	if err := os.WriteFile(creds, fake.CredentialsJSON, 0o600); err != nil {
		t.Fatal(err)
	}
	inst := startExample(t, "release-forms", map[string]any{"driver": "gcs", "gcs": map[string]any{
		"bucket": fake.Bucket, "credentials_file": creds, "endpoint": fake.URL,
	}})
	runReleaseForms(t, inst, "gs://verification-api-storage/")
}

// TestRefusedUploadsOnS3 sends uploads that break their target to MinIO:
// S3 refuses them, and CompleteUpload then answers 409 and the file stays
// PENDING (never READY) while its target is valid.
func TestRefusedUploadsOnS3(t *testing.T) {
	t.Parallel()
	inst := startExample(t, "direct-upload", s3Backend(t))
	body := []byte("exactly these bytes")
	cases := []struct {
		name string
		send []byte
		edit func(h map[string]string)
	}{
		{"more bytes than declared", append(body, "!!"...), nil},
		{"fewer bytes than declared", body[:5], nil},
		{"another content type", body, func(h map[string]string) { h["Content-Type"] = "text/html" }},
		{"bytes that do not match the MD5", []byte("EXACTLY these bytes"), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, created := inst.rest(t, "POST", "/v1/uploads", map[string]any{
				"category": "blob", "filename": "a.txt", "content_type": "text/plain", "size_bytes": len(body),
				"checksum": map[string]any{"algorithm": "CHECKSUM_ALGORITHM_MD5", "value": md5b64(body)},
			})
			if code != 200 {
				t.Fatalf("CreateUpload: %d %v", code, created)
			}
			target := targetFromJSON(t, created["upload_target"])
			if c.edit != nil {
				c.edit(target.Headers)
			}
			if status := upload(t, target, c.send); status/100 == 2 {
				t.Fatalf("S3 accepted the upload: %d", status)
			}
			completeBeforeBytes(t, inst, str(created, "file.file_id"))
		})
	}
}
