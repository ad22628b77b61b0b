package s3

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/presignd/presignd/signer"
)

// uploadIDRunes are what generated upload ids are made of: S3's are
// URL-safe base64 with dots, MinIO's standard base64; both can carry
// characters that need escaping in a query.
var uploadIDRunes = []byte("abcXYZ019-_.~+/=% &?")

func randomPart(rng *rand.Rand, key string, now time.Time) signer.PartRequest {
	id := make([]byte, 1+rng.IntN(120))
	for i := range id {
		id[i] = uploadIDRunes[rng.IntN(len(uploadIDRunes))]
	}
	body := make([]byte, rng.IntN(64))
	for i := range body {
		body[i] = byte(rng.Uint32())
	}
	var sum signer.Checksum
	switch rng.IntN(3) {
	case 1:
		sum = sha256Checksum(body)
	case 2:
		sum = crc32cChecksum(body)
	}
	size := int64(len(body))
	if rng.IntN(4) == 0 {
		size = rng.Int64N(MaxPartSize + 1)
	}
	return signer.PartRequest{
		Key:        key,
		UploadID:   string(id),
		PartNumber: []int{1, 2, 9, 10, 99, 1000, 9999, MaxParts}[rng.IntN(8)],
		Size:       size,
		Checksum:   sum,
		Expires:    now.Add(time.Second + time.Duration(rng.Int64N(int64((MaxExpiry-2*time.Second)/time.Millisecond)))*time.Millisecond),
	}
}

func sha256Checksum(b []byte) signer.Checksum {
	h := sha256.Sum256(b)
	return signer.Checksum{Algorithm: signer.SHA256, Value: base64.StdEncoding.EncodeToString(h[:])}
}

func crc32cChecksum(b []byte) signer.Checksum {
	var v [4]byte
	binary.BigEndian.PutUint32(v[:], crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
	return signer.Checksum{Algorithm: signer.CRC32C, Value: base64.StdEncoding.EncodeToString(v[:])}
}

// TestFastPartPresignerMatchesSDK is the proof that SignPart's URLs are
// the SDK's presigned UploadPart: for generated keys, upload ids, part
// numbers, sizes, checksums, endpoints, credentials and clocks, the URLs
// and headers are equal byte for byte.
func TestFastPartPresignerMatchesSDK(t *testing.T) {
	configs := []Config{
		{Endpoint: "http://127.0.0.1:9000", UsePathStyle: true},
		{Endpoint: "http://localhost:9000"},
		{Endpoint: "https://objects.example.com:443", UsePathStyle: true},
		{Endpoint: "http://[::1]:9000", UsePathStyle: true},
		{Region: "eu-central-1"},
		{Region: "us-west-2", UsePathStyle: true, Bucket: "b.with.dots"},
		{Region: "ap-southeast-2", SessionToken: "FwoGZXIvYXdzE+/=token with spaces&more", AccessKeyID: "ASIAEXAMPLE", SecretAccessKey: "secret/+="},
	}
	clocks := []time.Time{
		fixedNow,
		time.Date(2024, 2, 29, 23, 59, 59, 999999999, time.UTC),
		time.Date(2031, 12, 31, 0, 0, 0, 0, time.FixedZone("X", -7*3600)),
	}
	rng := rand.New(rand.NewPCG(3, 4))
	n := 0
	algs := map[string]int{}
	for ci, cfg := range configs {
		s := newTestSigner(t, cfg)
		if s.fast == nil {
			t.Fatalf("config %d: fast presigner is off", ci)
		}
		for i := 0; i < 150; i++ {
			now := clocks[i%len(clocks)]
			up, _ := randomRequests(rng, now)
			if signer.ValidateKey(up.Key) != nil {
				continue
			}
			req := randomPart(rng, up.Key, now)
			secs, err := checkPart(req, now)
			if err != nil {
				t.Fatalf("generated a bad request %+v: %v", req, err)
			}
			fast, err := s.fast.signPart(context.Background(), req, now, secs)
			if err != nil {
				t.Fatal(err)
			}
			sdk, err := s.sdkSignPart(context.Background(), req, now, secs)
			if err != nil {
				t.Fatal(err)
			}
			if fast.URL != sdk.URL || fmt.Sprint(fast) != fmt.Sprint(sdk) {
				t.Fatalf("config %d, UploadPart %+v at %v:\nfast %+v\nsdk  %+v", ci, req, now, fast, sdk)
			}
			algs[req.Checksum.Algorithm]++
			n++
		}
	}
	if algs[""] == 0 || algs[signer.SHA256] == 0 || algs[signer.CRC32C] == 0 {
		t.Fatalf("the generator missed a checksum kind: %v", algs)
	}
	t.Logf("%d UploadPart URLs identical (checksums %v)", n, algs)
}

func TestSignPartBindsLengthChecksumPartAndUpload(t *testing.T) {
	s := newTestSigner(t, Config{Endpoint: "http://127.0.0.1:9000", UsePathStyle: true})
	sh, crc := sha256Checksum([]byte("hello")), crc32cChecksum([]byte("hello"))
	tests := []struct {
		name        string
		req         signer.PartRequest
		wantSigned  string
		wantHeaders map[string]string
	}{
		{
			name:        "SHA256 binds x-amz-checksum-sha256 and the length",
			req:         signer.PartRequest{Size: 5, Checksum: sh},
			wantSigned:  "content-length;host;x-amz-checksum-sha256",
			wantHeaders: map[string]string{"Content-Length": "5", "x-amz-checksum-sha256": sh.Value},
		},
		{
			name:        "CRC32C binds x-amz-checksum-crc32c and the length",
			req:         signer.PartRequest{Size: 5, Checksum: crc},
			wantSigned:  "content-length;host;x-amz-checksum-crc32c",
			wantHeaders: map[string]string{"Content-Length": "5", "x-amz-checksum-crc32c": crc.Value},
		},
		{
			name:        "no checksum binds the length",
			req:         signer.PartRequest{Size: MinPartSize},
			wantSigned:  "content-length;host",
			wantHeaders: map[string]string{"Content-Length": "5242880"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.Key, tt.req.UploadID, tt.req.PartNumber = "dir/a b.bin", "up+load/id==", 7
			tt.req.Expires = fixedNow.Add(time.Hour)
			target, err := s.SignPart(context.Background(), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			u, err := url.Parse(target.URL)
			if err != nil {
				t.Fatal(err)
			}
			q := u.Query()
			if got := q.Get("X-Amz-SignedHeaders"); got != tt.wantSigned {
				t.Errorf("X-Amz-SignedHeaders = %q, want %q", got, tt.wantSigned)
			}
			if q.Get("partNumber") != "7" || q.Get("uploadId") != "up+load/id==" || q.Get("x-id") != "UploadPart" {
				t.Errorf("query %v does not name part 7 of upload up+load/id==", q)
			}
			if u.Path != "/presignd-bucket/dir/a b.bin" || target.Method != "PUT" {
				t.Errorf("%s %s, want PUT /presignd-bucket/dir/a b.bin", target.Method, u.Path)
			}
			if fmt.Sprint(target.Headers) != fmt.Sprint(tt.wantHeaders) {
				t.Errorf("Headers = %v, want %v", target.Headers, tt.wantHeaders)
			}
			if want := fixedNow.Truncate(time.Second).Add(time.Hour); !target.Expires.Equal(want) {
				t.Errorf("Expires = %v, want %v", target.Expires, want)
			}
		})
	}
}

func TestSignPartRefusesBadRequests(t *testing.T) {
	s := newTestSigner(t, Config{})
	good := signer.PartRequest{
		Key: "a/b.bin", UploadID: "abc", PartNumber: 1, Size: MinPartSize,
		Checksum: sha256Checksum([]byte("x")), Expires: fixedNow.Add(time.Minute),
	}
	if _, err := s.SignPart(context.Background(), good); err != nil {
		t.Fatalf("the good request is refused: %v", err)
	}
	tests := []struct {
		name string
		edit func(*signer.PartRequest)
		is   error
		want string
	}{
		{"an empty key", func(r *signer.PartRequest) { r.Key = "" }, signer.ErrInvalidKey, ""},
		{"a key with ..", func(r *signer.PartRequest) { r.Key = "a/../../etc/passwd" }, signer.ErrInvalidKey, ""},
		{"an empty upload id", func(r *signer.PartRequest) { r.UploadID = "" }, nil, "UploadID"},
		{"an upload id with a newline", func(r *signer.PartRequest) { r.UploadID = "a\nb" }, nil, "UploadID"},
		{"an upload id too long", func(r *signer.PartRequest) { r.UploadID = strings.Repeat("a", maxUploadIDLength+1) }, nil, "UploadID"},
		{"part number 0", func(r *signer.PartRequest) { r.PartNumber = 0 }, nil, "PartNumber"},
		{"part number 10001", func(r *signer.PartRequest) { r.PartNumber = MaxParts + 1 }, nil, "PartNumber"},
		{"a negative size", func(r *signer.PartRequest) { r.Size = -1 }, nil, "Size"},
		{"a part above 5 GiB", func(r *signer.PartRequest) { r.Size = MaxPartSize + 1 }, nil, "Size"},
		{"an MD5 checksum", func(r *signer.PartRequest) {
			r.Checksum = signer.Checksum{Algorithm: signer.MD5, Value: "XUFAKrxLKna5cZ2REBfFkg=="}
		}, signer.ErrUnsupported, ""},
		{"a CRC32C of the wrong length", func(r *signer.PartRequest) { r.Checksum.Algorithm = signer.CRC32C }, nil, "4-byte"},
		{"a SHA256 that is not base64", func(r *signer.PartRequest) { r.Checksum.Value = "!!" }, nil, "32-byte"},
		{"no expiry", func(r *signer.PartRequest) { r.Expires = time.Time{} }, nil, "Expires"},
		{"an expiry in the past", func(r *signer.PartRequest) { r.Expires = fixedNow.Add(-time.Second) }, nil, "Expires"},
		{"an expiry beyond seven days", func(r *signer.PartRequest) { r.Expires = fixedNow.Add(MaxExpiry + time.Hour) }, signer.ErrUnsupported, ""},
	}
	for _, tt := range tests {
		t.Run("refuses "+tt.name, func(t *testing.T) {
			req := good
			tt.edit(&req)
			_, err := s.SignPart(context.Background(), req)
			checkErr(t, err, tt.is, tt.want)
		})
	}
	t.Run("the calls that reach S3 refuse a bad key or upload id before any request", func(t *testing.T) {
		ctx := context.Background()
		checkErr(t, s.AbortMultipart(ctx, "../x", "id"), signer.ErrInvalidKey, "")
		checkErr(t, s.AbortMultipart(ctx, "k", ""), nil, "UploadID")
		_, err := s.ListParts(ctx, "a//b", "id")
		checkErr(t, err, signer.ErrInvalidKey, "")
		checkErr(t, s.CompleteMultipart(ctx, "k", "id\x00", []signer.Part{{PartNumber: 1, ETag: "e"}}), nil, "UploadID")
		_, err = s.CreateMultipart(ctx, signer.UploadRequest{Key: "/abs"})
		checkErr(t, err, signer.ErrInvalidKey, "")
		_, err = s.CreateMultipart(ctx, signer.UploadRequest{Key: "k", Checksum: signer.Checksum{Algorithm: signer.MD5}})
		checkErr(t, err, signer.ErrUnsupported, "")
		_, err = s.ListMultipartUploads(ctx, fixedNow, 0)
		checkErr(t, err, nil, "limit")
	})
	t.Run("CompleteMultipart refuses parts out of order, unnumbered or without an ETag", func(t *testing.T) {
		ctx := context.Background()
		for _, parts := range [][]signer.Part{
			nil,
			{{PartNumber: 2, ETag: "a"}, {PartNumber: 1, ETag: "b"}},
			{{PartNumber: 1, ETag: "a"}, {PartNumber: 1, ETag: "b"}},
			{{PartNumber: 0, ETag: "a"}},
			{{PartNumber: 1}},
		} {
			checkErr(t, s.CompleteMultipart(ctx, "k", "id", parts), signer.ErrInvalidPart, "")
		}
	})
}

// pagingS3 answers ListMultipartUploads for bucket presignd-bucket from
// uploads, pageSize at a time, honouring key-marker and upload-id-marker
// the way S3 does; stuck makes it answer every page as truncated without
// advancing. It counts the requests.
type pagingS3 struct {
	uploads  []signer.PendingMultipart // sorted by key, then upload id
	pageSize int
	stuck    bool
	requests int
}

func (f *pagingS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.requests++
	q := r.URL.Query()
	if r.Method != http.MethodGet || r.URL.Path != "/presignd-bucket" || !q.Has("uploads") {
		http.Error(w, "unexpected request "+r.Method+" "+r.URL.String(), http.StatusBadRequest)
		return
	}
	start := 0
	if km := q.Get("key-marker"); km != "" && !f.stuck {
		for start < len(f.uploads) && (f.uploads[start].Key < km || f.uploads[start].Key == km && f.uploads[start].UploadID <= q.Get("upload-id-marker")) {
			start++
		}
	}
	end := min(start+f.pageSize, len(f.uploads))
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>presignd-bucket</Bucket>`)
	if end < len(f.uploads) {
		last := f.uploads[end-1]
		fmt.Fprintf(&b, "<IsTruncated>true</IsTruncated><NextKeyMarker>%s</NextKeyMarker><NextUploadIdMarker>%s</NextUploadIdMarker>", last.Key, last.UploadID)
	} else {
		b.WriteString("<IsTruncated>false</IsTruncated>")
	}
	for _, u := range f.uploads[start:end] {
		fmt.Fprintf(&b, "<Upload><Key>%s</Key><UploadId>%s</UploadId><Initiated>%s</Initiated></Upload>", u.Key, u.UploadID, u.Initiated.UTC().Format("2006-01-02T15:04:05.000Z"))
	}
	b.WriteString("</ListMultipartUploadsResult>")
	w.Header().Set("Content-Type", "application/xml")
	io.WriteString(w, b.String())
}

func TestListMultipartUploadsReadsPagesUpToTheLimit(t *testing.T) {
	at := func(min int) time.Time { return fixedNow.Truncate(time.Minute).Add(time.Duration(min) * time.Minute) }
	uploads := []signer.PendingMultipart{
		{Key: "a", UploadID: "1", Initiated: at(5)},
		{Key: "a", UploadID: "2", Initiated: at(50)}, // too recent
		{Key: "b", UploadID: "1", Initiated: at(1)},
		{Key: "c", UploadID: "1", Initiated: at(3)},
		{Key: "d", UploadID: "1", Initiated: at(60)}, // too recent
		{Key: "e", UploadID: "1", Initiated: at(2)},
		{Key: "f", UploadID: "1", Initiated: at(4)},
	}
	cutoff := at(10)
	for _, tt := range []struct {
		name      string
		pageSize  int
		limit     int
		want      string // keys and ids, oldest first
		wantPages int
	}{
		{"every old upload across pages of 2, oldest first", 2, 100, "b/1 e/1 c/1 f/1 a/1", 4},
		{"every old upload in one page", 1000, 100, "b/1 e/1 c/1 f/1 a/1", 1},
		{"a limit stops reading pages", 2, 2, "b/1 a/1", 2},
		{"a limit of exactly the old uploads", 3, 5, "b/1 e/1 c/1 f/1 a/1", 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fake := &pagingS3{uploads: uploads, pageSize: tt.pageSize}
			srv := httptest.NewServer(fake)
			defer srv.Close()
			s := newTestSigner(t, Config{Endpoint: srv.URL, UsePathStyle: true})
			s.pageSize = int32(tt.pageSize)
			got, err := s.ListMultipartUploads(context.Background(), cutoff, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, u := range got {
				names = append(names, u.Key+"/"+u.UploadID)
			}
			if strings.Join(names, " ") != tt.want {
				t.Errorf("ListMultipartUploads = %v, want %s", names, tt.want)
			}
			if fake.requests != tt.wantPages {
				t.Errorf("read %d pages, want %d", fake.requests, tt.wantPages)
			}
		})
	}
	t.Run("a listing that does not advance is an error, not a loop", func(t *testing.T) {
		fake := &pagingS3{uploads: uploads, pageSize: 2, stuck: true}
		srv := httptest.NewServer(fake)
		defer srv.Close()
		s := newTestSigner(t, Config{Endpoint: srv.URL, UsePathStyle: true})
		if _, err := s.ListMultipartUploads(context.Background(), cutoff, 100); err == nil || !strings.Contains(err.Error(), "advance") {
			t.Fatalf("ListMultipartUploads of a stuck listing: %v, want an error saying it did not advance", err)
		}
		if fake.requests > 3 {
			t.Errorf("read %d pages of a stuck listing", fake.requests)
		}
	})
}

// TestMultipartCallsToAnUnreachableBackendAreUnavailable: every multipart
// call that reaches S3 wraps signer.ErrUnavailable when S3 cannot be
// reached or answers 5xx, and not when it refuses.
func TestMultipartCallsToAnUnreachableBackendAreUnavailable(t *testing.T) {
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	answering := func(status int) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	for _, tc := range []struct {
		name            string
		endpoint        string
		wantUnavailable bool
	}{
		{"nothing listens at the endpoint", down.URL, true},
		{"S3 answers 503", answering(http.StatusServiceUnavailable), true},
		{"S3 answers 403", answering(http.StatusForbidden), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestSigner(t, Config{Endpoint: tc.endpoint, UsePathStyle: true, Now: time.Now})
			ctx := t.Context()
			_, createErr := s.CreateMultipart(ctx, signer.UploadRequest{Key: "k"})
			_, listErr := s.ListParts(ctx, "k", "id")
			_, listUploadsErr := s.ListMultipartUploads(ctx, time.Now(), 10)
			for op, err := range map[string]error{
				"CreateMultipart":      createErr,
				"ListParts":            listErr,
				"CompleteMultipart":    s.CompleteMultipart(ctx, "k", "id", []signer.Part{{PartNumber: 1, ETag: "e"}}),
				"AbortMultipart":       s.AbortMultipart(ctx, "k", "id"),
				"ListMultipartUploads": listUploadsErr,
			} {
				if err == nil || errors.Is(err, signer.ErrUnavailable) != tc.wantUnavailable {
					t.Errorf("%s: %v; wraps ErrUnavailable: %v, want %v", op, err, errors.Is(err, signer.ErrUnavailable), tc.wantUnavailable)
				}
				if errors.Is(err, signer.ErrNotFound) || errors.Is(err, signer.ErrInvalidPart) {
					t.Errorf("%s: %v wraps ErrNotFound or ErrInvalidPart", op, err)
				}
			}
		})
	}
}

// FuzzSignPartMatchesSDK: for any key, upload id, part number and size that
// SignPart accepts, its URL is the SDK's presigned UploadPart; any it
// refuses, it refuses without panicking.
//
//	go test -fuzz FuzzSignPartMatchesSDK -run '^$' ./signer/s3/
func FuzzSignPartMatchesSDK(f *testing.F) {
	f.Add("a/b.bin", "abc", 1, int64(5<<20), "")
	f.Add("tenants/ü ß/日本語 (1).pdf", "MmJiNzRj+/=", 10000, int64(0), signer.SHA256)
	f.Add("x", "id with spaces&?=", 42, int64(MaxPartSize), signer.CRC32C)
	f.Add("../etc/passwd", "", 0, int64(-1), "MD5")
	s := newTestSigner(f, Config{Endpoint: "http://127.0.0.1:9000", UsePathStyle: true})
	f.Fuzz(func(t *testing.T, key, uploadID string, partNumber int, size int64, alg string) {
		req := signer.PartRequest{Key: key, UploadID: uploadID, PartNumber: partNumber, Size: size, Expires: fixedNow.Add(time.Hour)}
		switch alg {
		case signer.SHA256:
			req.Checksum = sha256Checksum([]byte(key))
		case signer.CRC32C:
			req.Checksum = crc32cChecksum([]byte(key))
		case "":
		default:
			req.Checksum = signer.Checksum{Algorithm: alg, Value: uploadID}
		}
		secs, err := checkPart(req, fixedNow)
		if err != nil {
			if _, err2 := s.SignPart(context.Background(), req); err2 == nil {
				t.Fatalf("checkPart refuses %+v (%v) but SignPart signs it", req, err)
			}
			return
		}
		fast, err := s.fast.signPart(context.Background(), req, fixedNow, secs)
		if err != nil {
			t.Fatal(err)
		}
		sdk, err := s.sdkSignPart(context.Background(), req, fixedNow, secs)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(fast) != fmt.Sprint(sdk) {
			t.Fatalf("UploadPart %+v:\nfast %+v\nsdk  %+v", req, fast, sdk)
		}
	})
}
