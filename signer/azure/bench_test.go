package azure

import (
	"context"
	"testing"
	"time"

	"github.com/presignd/presignd/signer"
)

// Signing cost: go test -bench . -run '^$' ./signer/azure/ ./signer/s3/
// (the S3 fast signer's BenchmarkPresignPut/fast is the yardstick).

func BenchmarkSignUpload(b *testing.B) {
	s, now := fixedSignerB(b)
	req := signer.UploadRequest{
		Key: "tenants/acme/identity/0b5e3f2a-8c1d-4f7e-9a6b-2d3c4e5f6a7b.pdf", ContentType: "application/pdf",
		Size: 5, MaxSize: 10 << 20, ContentDisposition: `attachment; filename="passport scan.pdf"`,
		Checksum: signer.Checksum{Algorithm: signer.MD5, Value: "XUFAKrxLKna5cZ2REBfFkg=="},
		Expires:  now.Add(15 * time.Minute),
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.SignUpload(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSignDownload(b *testing.B) {
	s, now := fixedSignerB(b)
	req := signer.DownloadRequest{
		Key:                        "tenants/acme/identity/0b5e3f2a-8c1d-4f7e-9a6b-2d3c4e5f6a7b.pdf",
		ResponseContentDisposition: `attachment; filename="passport scan.pdf"`,
		Expires:                    now.Add(5 * time.Minute),
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.SignDownload(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

func fixedSignerB(b *testing.B) (*Signer, time.Time) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	s, err := New(Config{Account: DevAccount, AccountKey: DevKey, Container: "files", Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	return s, now
}
