package gcs_test

import (
	"context"
	"testing"
	"time"

	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/signer/gcs/gcstest"
	"github.com/presignd/presignd/signer/s3"
)

// BenchmarkSignUploadBackends signs the same PUT target (content type,
// disposition, MD5) in one run with a GCS HMAC key, a GCS service-account
// RSA key, and S3's fast SigV4 presigner:
//
//	go test -run '^$' -bench SignUploadBackends ./signer/gcs
func BenchmarkSignUploadBackends(b *testing.B) {
	b.Setenv("STORAGE_EMULATOR_HOST", "")
	srv := gcstest.NewServer(b, "presignd-bench")
	ctx := context.Background()
	s3s, err := s3.New(ctx, s3.Config{
		Bucket: "presignd-bench", Region: "us-east-1", Endpoint: "http://127.0.0.1:9000", UsePathStyle: true,
		AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
	})
	if err != nil {
		b.Fatal(err)
	}
	req := signer.UploadRequest{
		Key:                "tenants/t1/releaseForms/0f8fad5b-d9cb-469f-a165-70867728950e.pdf",
		ContentType:        "application/pdf",
		ContentDisposition: `attachment; filename="release.pdf"`,
		Checksum:           signer.Checksum{Algorithm: signer.MD5, Value: md5Of([]byte("x"))},
		Size:               1,
		MaxSize:            10 << 20,
		Expires:            time.Now().Add(15 * time.Minute),
	}
	for _, c := range []struct {
		name string
		s    signer.Signer
	}{
		{"gcs-hmac", newHMACSigner(b, srv, false, "", nil)},
		{"gcs-rsa", newSigner(b, srv, false)},
		{"s3-fast", s3s},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.s.SignUpload(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
