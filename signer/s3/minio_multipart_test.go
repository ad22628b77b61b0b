package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/presignd/presignd/signer"
)

// S3-specific multipart cases against the test server, beyond the shared
// signertest ones: how completion failures are named, pagination, and the
// listing of abandoned uploads a sweeper relies on.

// startUpload creates a multipart upload of key with part checksums alg
// (none when empty) and aborts it when the test ends.
func startUpload(t *testing.T, s *Signer, key, alg string) string {
	t.Helper()
	id, err := s.CreateMultipart(context.Background(), signer.UploadRequest{
		Key: key, ContentType: "application/octet-stream", Checksum: signer.Checksum{Algorithm: alg},
	})
	if err != nil {
		t.Fatalf("CreateMultipart(%s): %v", key, err)
	}
	t.Cleanup(func() {
		if err := s.AbortMultipart(context.Background(), key, id); err != nil {
			t.Errorf("AbortMultipart(%s): %v", key, err)
		}
	})
	return id
}

// sendPart signs part n of the upload for body (with its alg checksum) and
// PUTs it, and returns the part as ListParts should show it.
func sendPart(t *testing.T, s *Signer, key, id string, n int, body []byte, alg string) signer.Part {
	t.Helper()
	req := signer.PartRequest{Key: key, UploadID: id, PartNumber: n, Size: int64(len(body)), Expires: time.Now().Add(time.Minute)}
	switch alg {
	case signer.SHA256:
		req.Checksum = sha256Checksum(body)
	case signer.CRC32C:
		req.Checksum = crc32cChecksum(body)
	}
	target, err := s.SignPart(context.Background(), req)
	if err != nil {
		t.Fatalf("SignPart %d: %v", n, err)
	}
	hr, err := http.NewRequest(target.Method, target.URL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range target.Headers {
		hr.Header.Set(k, v)
	}
	resp, err := httpClient.Do(hr)
	if err != nil {
		t.Fatalf("PUT part %d: %v", n, err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT part %d: status %d: %s", n, resp.StatusCode, got)
	}
	return signer.Part{PartNumber: n, Size: int64(len(body)), ETag: strings.Trim(resp.Header.Get("ETag"), `"`), Checksum: req.Checksum}
}

func partOf(n, size int) []byte {
	return bytes.Repeat([]byte{byte('a' + n%26)}, size)
}

func TestServerListPartsReadsEveryPage(t *testing.T) {
	s := newServerSigner(t, nil)
	s.pageSize = 2
	for _, alg := range []string{"", signer.SHA256, signer.CRC32C} {
		t.Run("part checksum "+cmpOr(alg, "none"), func(t *testing.T) {
			key := "pages/" + cmpOr(alg, "none") + ".bin"
			id := startUpload(t, s, key, alg)
			var want []signer.Part
			for _, n := range []int{5, 3, 1, 2, 4} {
				want = append(want, sendPart(t, s, key, id, n, partOf(n, 100+n), alg))
			}
			slices.SortFunc(want, func(a, b signer.Part) int { return a.PartNumber - b.PartNumber })
			got, err := s.ListParts(context.Background(), key, id)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("ListParts over pages of 2 =\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func TestServerCompleteNamesTheInvalidPart(t *testing.T) {
	s := newServerSigner(t, nil)
	ctx := context.Background()

	t.Run("a part given with another ETag is named, and the upload survives", func(t *testing.T) {
		key := "invalid/etag.bin"
		id := startUpload(t, s, key, "")
		p1 := sendPart(t, s, key, id, 1, partOf(1, MinPartSize), "")
		p2 := sendPart(t, s, key, id, 2, partOf(2, 10), "")
		wrong := p2
		wrong.ETag = strings.Repeat("0", 32)
		err := s.CompleteMultipart(ctx, key, id, []signer.Part{p1, wrong})
		if !errors.Is(err, signer.ErrInvalidPart) || !strings.Contains(err.Error(), "part 2 has ETag") {
			t.Fatalf("CompleteMultipart with a wrong ETag: %v, want ErrInvalidPart naming part 2's ETag", err)
		}
		if err := s.CompleteMultipart(ctx, key, id, []signer.Part{p1, p2}); err != nil {
			t.Fatalf("CompleteMultipart with the right parts after a refusal: %v", err)
		}
		if info, err := s.Stat(ctx, key); err != nil || info.Size != MinPartSize+10 {
			t.Fatalf("Stat = %+v, %v; want %d bytes", info, err, MinPartSize+10)
		}
		t.Run("completing it again is ErrNotFound", func(t *testing.T) {
			err := s.CompleteMultipart(ctx, key, id, []signer.Part{p1, p2})
			if !errors.Is(err, signer.ErrNotFound) {
				t.Fatalf("second CompleteMultipart: %v, want ErrNotFound", err)
			}
		})
	})

	t.Run("a part other than the last below 5 MiB is named", func(t *testing.T) {
		key := "invalid/small.bin"
		id := startUpload(t, s, key, "")
		p1 := sendPart(t, s, key, id, 1, partOf(1, 1000), "")
		p2 := sendPart(t, s, key, id, 2, partOf(2, 1000), "")
		err := s.CompleteMultipart(ctx, key, id, []signer.Part{p1, p2})
		if !errors.Is(err, signer.ErrInvalidPart) || !strings.Contains(err.Error(), "part 1 of 1000 bytes is below") {
			t.Fatalf("CompleteMultipart with a small first part: %v, want ErrInvalidPart naming part 1", err)
		}
		if _, err := s.Stat(ctx, key); !errors.Is(err, signer.ErrNotFound) {
			t.Fatalf("Stat after a refused completion: %v, want ErrNotFound", err)
		}
	})

	t.Run("a part with another checksum is named", func(t *testing.T) {
		key := "invalid/checksum.bin"
		id := startUpload(t, s, key, signer.SHA256)
		p1 := sendPart(t, s, key, id, 1, partOf(1, 10), signer.SHA256)
		wrong := p1
		wrong.Checksum = sha256Checksum([]byte("other bytes"))
		err := s.CompleteMultipart(ctx, key, id, []signer.Part{wrong})
		if !errors.Is(err, signer.ErrInvalidPart) || !strings.Contains(err.Error(), "part 1 has another SHA256 checksum") {
			t.Fatalf("CompleteMultipart with another checksum: %v, want ErrInvalidPart naming part 1", err)
		}
	})

	t.Run("a part given without the checksum its upload binds is named", func(t *testing.T) {
		for _, alg := range []string{signer.SHA256, signer.CRC32C} {
			key := "invalid/no-checksum-" + alg + ".bin"
			id := startUpload(t, s, key, alg)
			p1 := sendPart(t, s, key, id, 1, partOf(1, MinPartSize), alg)
			p2 := sendPart(t, s, key, id, 2, partOf(2, 10), alg)
			bare := p2
			bare.Checksum = signer.Checksum{}
			err := s.CompleteMultipart(ctx, key, id, []signer.Part{p1, bare})
			if !errors.Is(err, signer.ErrInvalidPart) || !strings.Contains(err.Error(), "part 2 is given without the "+alg) {
				t.Fatalf("%s: CompleteMultipart without part 2's checksum: %v, want ErrInvalidPart naming part 2", alg, err)
			}
			if err := s.CompleteMultipart(ctx, key, id, []signer.Part{p1, p2}); err != nil {
				t.Fatalf("%s: CompleteMultipart with the checksums: %v", alg, err)
			}
		}
	})

	t.Run("an unknown upload is ErrNotFound", func(t *testing.T) {
		err := s.CompleteMultipart(ctx, "invalid/unknown.bin", "bm8tc3VjaC11cGxvYWQ", []signer.Part{{PartNumber: 1, ETag: strings.Repeat("0", 32)}})
		if !errors.Is(err, signer.ErrNotFound) {
			t.Fatalf("CompleteMultipart of an unknown upload: %v, want ErrNotFound", err)
		}
		if _, err := s.ListParts(ctx, "invalid/unknown.bin", "bm8tc3VjaC11cGxvYWQ"); !errors.Is(err, signer.ErrNotFound) {
			t.Fatalf("ListParts of an unknown upload: %v, want ErrNotFound", err)
		}
		if err := s.AbortMultipart(ctx, "invalid/unknown.bin", "bm8tc3VjaC11cGxvYWQ"); err != nil {
			t.Fatalf("AbortMultipart of an unknown upload: %v, want nil", err)
		}
	})
}

// TestServerAbandonedUploadsAreListedUntilAborted is what the sweeper's
// orphan pass relies on: uploads nobody completed show in
// ListMultipartUploads (oldest first, bounded by the
// initiation time and the limit), and after AbortMultipart the server
// lists none and holds none of their parts. (MinIO answers the whole
// listing in one page whatever max-uploads says; paging is proven against
// a paging fake in TestListMultipartUploadsReadsPagesUpToTheLimit.)
func TestServerAbandonedUploadsAreListedUntilAborted(t *testing.T) {
	s := newServerSigner(t, nil)
	ctx := context.Background()
	before := time.Now().Add(-time.Hour)
	var ids = map[string]string{}
	for i, key := range []string{"z/last-key-first.bin", "a/with-a-part.bin", "m/middle.bin"} {
		id, err := s.CreateMultipart(ctx, signer.UploadRequest{Key: key})
		if err != nil {
			t.Fatal(err)
		}
		ids[key] = id
		if i == 1 {
			sendPart(t, s, key, id, 1, partOf(1, 1000), "")
		}
		time.Sleep(20 * time.Millisecond) // distinct initiation times
	}
	after := time.Now().Add(time.Minute)

	got, err := s.ListMultipartUploads(ctx, after, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("ListMultipartUploads = %+v, want the 3 uploads", got)
	}
	for i, u := range got {
		if ids[u.Key] != u.UploadID {
			t.Errorf("upload %d: %s %s, not one created here", i, u.Key, u.UploadID)
		}
		if i > 0 && u.Initiated.Before(got[i-1].Initiated) {
			t.Errorf("upload %d initiated %v, before upload %d at %v: want oldest first", i, u.Initiated, i-1, got[i-1].Initiated)
		}
		if u.Initiated.Before(before) || u.Initiated.After(after) {
			t.Errorf("upload %d initiated %v, not between %v and %v", i, u.Initiated, before, after)
		}
	}
	if got, err := s.ListMultipartUploads(ctx, after, 2); err != nil || len(got) != 2 {
		t.Errorf("ListMultipartUploads with limit 2 = %+v, %v; want 2", got, err)
	}
	if got, err := s.ListMultipartUploads(ctx, before, 10); err != nil || len(got) != 0 {
		t.Errorf("ListMultipartUploads initiated before %v = %+v, %v; want none", before, got, err)
	}

	for key, id := range ids {
		if err := s.AbortMultipart(ctx, key, id); err != nil {
			t.Fatalf("AbortMultipart(%s): %v", key, err)
		}
		if err := s.AbortMultipart(ctx, key, id); err != nil {
			t.Errorf("AbortMultipart(%s) again: %v, want nil", key, err)
		}
		if _, err := s.ListParts(ctx, key, id); !errors.Is(err, signer.ErrNotFound) {
			t.Errorf("ListParts(%s) after abort: %v, want ErrNotFound", key, err)
		}
	}
	if got, err := s.ListMultipartUploads(ctx, after, 10); err != nil || len(got) != 0 {
		t.Errorf("ListMultipartUploads after aborting all = %+v, %v; want none", got, err)
	}
	raw, err := s.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(s.bucket)})
	if err != nil || len(raw.Uploads) != 0 {
		t.Errorf("the server's own listing after aborting all: %d uploads, %v; want none", len(raw.Uploads), err)
	}
}
