package sweeper_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/presignd/presignd/internal/testenv"
	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/signer/gcs"
	"github.com/presignd/presignd/signer/gcs/gcstest"
	"github.com/presignd/presignd/signer/local"
	"github.com/presignd/presignd/signer/s3"
	"github.com/presignd/presignd/store"
	"github.com/presignd/presignd/store/sqlite"
	"github.com/presignd/presignd/sweeper"
)

// multipartBackend is a real driver that takes and lists multipart
// uploads.
type multipartBackend interface {
	signer.Signer
	signer.MultipartUploader
	signer.MultipartLister
}

// newBackendFunc returns a fresh backend and the HTTP client that reaches
// its part targets.
type newBackendFunc func(*testing.T) (multipartBackend, *http.Client)

// flakyMultipart is a backend whose AbortMultipart fails while fail is
// set; everything else is the real driver's.
type flakyMultipart struct {
	multipartBackend
	fail atomic.Bool
}

func (f *flakyMultipart) AbortMultipart(ctx context.Context, key, uploadID string) error {
	if f.fail.Load() {
		return errors.New("backend down")
	}
	return f.multipartBackend.AbortMultipart(ctx, key, uploadID)
}

// newLocalBackend is the local driver on a temporary directory, served
// over HTTP, with 1 KiB parts.
func newLocalBackend(t *testing.T) (multipartBackend, *http.Client) {
	t.Helper()
	var handler http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	secret := make([]byte, local.MinSecretLength)
	rand.Read(secret)
	l, err := local.New(local.Config{Dir: t.TempDir(), BaseURL: srv.URL, Secret: secret, MinPartSize: 1 << 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	mux := http.NewServeMux()
	mux.Handle(l.PathPrefix(), l.Handler())
	handler = mux
	return l, http.DefaultClient
}

// newMinIOBackend is the S3 driver on a fresh bucket of the server named
// by PRESIGND_TEST_S3_*, removed (with any multipart upload left) when
// the test ends.
func newMinIOBackend(t *testing.T) (multipartBackend, *http.Client) {
	t.Helper()
	endpoint := testenv.Get(t, "PRESIGND_TEST_S3_ENDPOINT", "source .ci/minio.sh and run minio_start to test the sweeper against MinIO")
	region := os.Getenv("PRESIGND_TEST_S3_REGION")
	if region == "" {
		region = "us-east-1"
	}
	var b [6]byte
	rand.Read(b[:])
	bucket := "presignd-sweeper-" + hex.EncodeToString(b[:])
	cfg := s3.Config{
		Bucket: bucket, Endpoint: endpoint, Region: region, UsePathStyle: true,
		AccessKeyID: os.Getenv("PRESIGND_TEST_S3_ACCESS_KEY"), SecretAccessKey: os.Getenv("PRESIGND_TEST_S3_SECRET_KEY"),
	}
	ctx := context.Background()
	client := awss3.New(awss3.Options{
		BaseEndpoint: aws.String(endpoint), Region: region, UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, ""),
	})
	if _, err := client.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("create bucket %s: %v", bucket, err)
	}
	t.Cleanup(func() {
		ups, _ := client.ListMultipartUploads(ctx, &awss3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
		if ups != nil {
			for _, u := range ups.Uploads {
				client.AbortMultipartUpload(ctx, &awss3.AbortMultipartUploadInput{Bucket: aws.String(bucket), Key: u.Key, UploadId: u.UploadId})
			}
		}
		objs, _ := client.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String(bucket)})
		if objs != nil {
			for _, o := range objs.Contents {
				client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String(bucket), Key: o.Key})
			}
		}
		if _, err := client.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: aws.String(bucket)}); err != nil {
			t.Errorf("delete bucket %s: %v", bucket, err)
		}
	})
	sg, err := s3.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return sg, http.DefaultClient
}

// newGCSBackend is the GCS driver on gcstest's verifying fake, which
// implements the XML API's multipart calls.
func newGCSBackend(t *testing.T) (multipartBackend, *http.Client) {
	t.Helper()
	t.Setenv("STORAGE_EMULATOR_HOST", "")
	srv := gcstest.NewServer(t, "presignd-sweeper")
	g, err := gcs.New(t.Context(), gcs.Config{
		Bucket: srv.Bucket, CredentialsJSON: srv.CredentialsJSON, Endpoint: srv.URL, HTTPClient: srv.Client(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g, srv.Client()
}

// TestSweepMultipart runs the sweeper's multipart cases on the local
// driver, on the GCS driver against its verifying fake and, when
// PRESIGND_TEST_S3_* names one, on MinIO.
func TestSweepMultipart(t *testing.T) {
	t.Run("local", func(t *testing.T) { testSweepMultipart(t, newLocalBackend) })
	t.Run("GCS", func(t *testing.T) { testSweepMultipart(t, newGCSBackend) })
	t.Run("MinIO", func(t *testing.T) { testSweepMultipart(t, newMinIOBackend) })
}

// mpHarness is a SQLite store, a real backend and a sweeper over them,
// with the sweeper's clock under the test's control (the backend keeps
// real time).
type mpHarness struct {
	t       *testing.T
	st      *sqlite.Store
	backend *flakyMultipart
	client  *http.Client
	clk     *clock
	reg     *prometheus.Registry
	sw      *sweeper.Sweeper
}

const mpBackendName = "mp"

func newMPHarness(t *testing.T, newBackend newBackendFunc, orphanAge time.Duration) *mpHarness {
	t.Helper()
	st, err := sqlite.Open(t.Context(), sqlite.Config{Path: filepath.Join(t.TempDir(), "p.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	backend, client := newBackend(t)
	h := &mpHarness{t: t, st: st, backend: &flakyMultipart{multipartBackend: backend}, client: client,
		clk: &clock{t: time.Now().UTC()}, reg: prometheus.NewRegistry()}
	caps := signer.CapabilitiesOf(h.backend)
	if caps.Multipart == nil || caps.MultipartLister == nil {
		t.Fatalf("the backend has capabilities %s, want Multipart and MultipartLister", caps)
	}
	h.sw, err = sweeper.New(sweeper.Config{
		Store: st, Backends: map[string]sweeper.Backend{mpBackendName: h.backend},
		Multipart:        map[string]signer.MultipartUploader{mpBackendName: caps.Multipart},
		MultipartListers: map[string]signer.MultipartLister{mpBackendName: caps.MultipartLister},
		OrphanAge:        orphanAge, Interval: time.Minute, Grace: time.Minute, Registerer: h.reg, Now: h.clk.now,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// upload is a multipart upload begun on the backend with some parts sent.
type upload struct {
	key, id string
	bytes   int64
}

// begin starts a multipart upload of key and sends parts of the given
// sizes, numbered from 1.
func (h *mpHarness) begin(key string, sizes ...int) upload {
	h.t.Helper()
	ctx := h.t.Context()
	id, err := h.backend.CreateMultipart(ctx, signer.UploadRequest{Key: key, ContentType: "application/octet-stream",
		Expires: time.Now().Add(time.Hour)})
	if err != nil {
		h.t.Fatalf("CreateMultipart(%s): %v", key, err)
	}
	u := upload{key: key, id: id}
	for i, n := range sizes {
		body := bytes.Repeat([]byte{byte('a' + i)}, n)
		target, err := h.backend.SignPart(ctx, signer.PartRequest{Key: key, UploadID: id, PartNumber: i + 1,
			Size: int64(n), Expires: time.Now().Add(time.Hour)})
		if err != nil {
			h.t.Fatalf("SignPart(%s, %d): %v", key, i+1, err)
		}
		req, err := http.NewRequestWithContext(ctx, target.Method, target.URL, bytes.NewReader(body))
		if err != nil {
			h.t.Fatal(err)
		}
		for k, v := range target.Headers {
			req.Header.Set(k, v)
		}
		resp, err := h.client.Do(req)
		if err != nil {
			h.t.Fatalf("PUT part %d of %s: %v", i+1, key, err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			h.t.Fatalf("PUT part %d of %s: %s %s", i+1, key, resp.Status, msg)
		}
		u.bytes += int64(n)
	}
	return u
}

// record stores a PENDING file holding u whose upload expires at expires.
func (h *mpHarness) record(id string, u upload, expires time.Time) *store.File {
	h.t.Helper()
	f := &store.File{ID: id, Tenant: "t", Key: u.key, Backend: mpBackendName, State: store.StatePending,
		SizeBytes: 1 << 30, CreatedAt: h.clk.now().Add(-time.Hour), UploadExpires: expires,
		MultipartUploadID: u.id, PartSize: 5 << 20}
	if err := h.st.CreateFile(h.t.Context(), f, store.Quota{}); err != nil {
		h.t.Fatal(err)
	}
	return f
}

// sweep runs a sweep that must succeed.
func (h *mpHarness) sweep() sweeper.Counts {
	h.t.Helper()
	c, err := h.sw.Sweep(h.t.Context())
	if err != nil {
		h.t.Fatalf("Sweep: %v", err)
	}
	return c
}

// gone fails the test unless the backend no longer holds u.
func (h *mpHarness) gone(what string, u upload) {
	h.t.Helper()
	if parts, err := h.backend.ListParts(h.t.Context(), u.key, u.id); !errors.Is(err, signer.ErrNotFound) {
		h.t.Errorf("%s: ListParts = %d parts, %v; want ErrNotFound", what, len(parts), err)
	}
	if slices.ContainsFunc(h.pending(), func(p signer.PendingMultipart) bool { return p.UploadID == u.id }) {
		h.t.Errorf("%s: the backend still lists upload %s", what, u.id)
	}
}

// pending lists every multipart upload the backend holds.
func (h *mpHarness) pending() []signer.PendingMultipart {
	h.t.Helper()
	ups, err := h.backend.ListMultipartUploads(h.t.Context(), time.Now().Add(time.Hour), 1000)
	if err != nil {
		h.t.Fatalf("ListMultipartUploads: %v", err)
	}
	return ups
}

// counter returns the value of the sweeper counter name{reason}.
func (h *mpHarness) counter(name, reason string) float64 {
	h.t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func testSweepMultipart(t *testing.T, newBackend newBackendFunc) {
	const kib = 1 << 10

	t.Run("an expired multipart upload is aborted, its parts counted, and the backend lists no upload afterwards", func(t *testing.T) {
		h := newMPHarness(t, newBackend, 0)
		min := int(h.backend.PartLimits().MinPartSize)
		exp := h.begin("t/expired.bin", min, 3*kib)
		live := h.begin("t/live.bin", min)
		h.record("expired", exp, h.clk.now().Add(-2*time.Minute))
		h.record("live", live, h.clk.now().Add(time.Hour))

		c := h.sweep()
		if c.Expired != 1 || c.MultipartAborted != 1 || c.MultipartAbortedBytes != exp.bytes || c.ObjectsDeleted[store.DeletionExpired] != 1 {
			t.Fatalf("sweep = %+v; want 1 expired, 1 upload of %d bytes aborted, its object deleted", c, exp.bytes)
		}
		h.gone("after the sweep", exp)
		if parts, err := h.backend.ListParts(t.Context(), live.key, live.id); err != nil || len(parts) != 1 {
			t.Fatalf("the live upload: ListParts = %d parts, %v; want its part kept", len(parts), err)
		}
		if f, err := h.st.GetFile(t.Context(), "t", "expired"); err != nil || f.State != store.StateExpired {
			t.Fatalf("the expired file: %+v, %v; want EXPIRED", f, err)
		}
		if got := h.counter("presignd_sweeper_multipart_aborted_total", store.DeletionExpired); got != 1 {
			t.Errorf("presignd_sweeper_multipart_aborted_total{reason=expired} = %v, want 1", got)
		}
		if got := h.counter("presignd_sweeper_multipart_aborted_bytes_total", store.DeletionExpired); got != float64(exp.bytes) {
			t.Errorf("presignd_sweeper_multipart_aborted_bytes_total{reason=expired} = %v, want %d", got, exp.bytes)
		}

		// The live upload expires too: then the backend holds none.
		h.clk.add(2 * time.Hour)
		if c := h.sweep(); c.MultipartAborted != 1 || c.MultipartAbortedBytes != live.bytes {
			t.Fatalf("second sweep = %+v; want the other upload aborted", c)
		}
		if ups := h.pending(); len(ups) != 0 {
			t.Fatalf("the backend still lists %d multipart uploads: %+v", len(ups), ups)
		}
		if c := h.sweep(); c.MultipartAborted != 0 || c.Orphans != 0 {
			t.Fatalf("an idle sweep aborted uploads: %+v", c)
		}
	})

	t.Run("a deleted PENDING file's upload is aborted; a failed abort is retried and counted once", func(t *testing.T) {
		h := newMPHarness(t, newBackend, 0)
		u := h.begin("t/deleted.bin", 2*kib)
		h.record("deleted", u, h.clk.now().Add(time.Hour))
		now := h.clk.now()
		d, err := h.st.DeleteFileAndQueueObject(t.Context(), "t", "deleted", now, now)
		if err != nil || d.MultipartUploadID != u.id {
			t.Fatalf("DeleteFileAndQueueObject = %+v, %v; want the deletion to carry upload %s", d, err, u.id)
		}
		h.backend.fail.Store(true)
		if c := h.sweep(); c.DeleteFailures != 1 || c.MultipartAborted != 0 {
			t.Fatalf("sweep with aborts failing = %+v; want 1 failure, nothing aborted", c)
		}
		if parts, err := h.backend.ListParts(t.Context(), u.key, u.id); err != nil || len(parts) != 1 {
			t.Fatalf("after the failed abort: ListParts = %d parts, %v; want the part kept", len(parts), err)
		}
		h.backend.fail.Store(false)
		h.clk.add(sweeper.Backoff(1))
		c := h.sweep()
		if c.MultipartAborted != 1 || c.MultipartAbortedBytes != 2*kib || c.ObjectsDeleted[store.DeletionDeleted] != 1 {
			t.Fatalf("sweep after the backoff = %+v; want the upload of 2 KiB aborted and the deletion done", c)
		}
		h.gone("after the retried abort", u)
		if got := h.counter("presignd_sweeper_multipart_aborted_total", store.DeletionDeleted); got != 1 {
			t.Errorf("presignd_sweeper_multipart_aborted_total{reason=deleted} = %v, want 1", got)
		}
	})

	t.Run("an upload no record holds is aborted once older than OrphanAge; one a PENDING file holds is kept", func(t *testing.T) {
		h := newMPHarness(t, newBackend, 2*time.Hour)
		orphan := h.begin("t/orphan.bin", 1*kib, 1*kib)
		held := h.begin("t/held.bin", 1*kib)
		h.record("held", held, h.clk.now().Add(48*time.Hour))
		if c := h.sweep(); c.Orphans != 0 || c.MultipartAborted != 0 {
			t.Fatalf("a sweep before OrphanAge aborted uploads: %+v", c)
		}
		h.clk.add(3 * time.Hour)
		c := h.sweep()
		if c.Orphans != 1 || c.MultipartAborted != 1 || c.MultipartAbortedBytes != orphan.bytes {
			t.Fatalf("sweep past OrphanAge = %+v; want the orphan of %d bytes aborted", c, orphan.bytes)
		}
		h.gone("the orphan", orphan)
		ups := h.pending()
		if len(ups) != 1 || ups[0].UploadID != held.id {
			t.Fatalf("the backend lists %+v; want only the upload a PENDING file holds (%s)", ups, held.id)
		}
		if got := h.counter("presignd_sweeper_multipart_aborted_total", "orphan"); got != 1 {
			t.Errorf("presignd_sweeper_multipart_aborted_total{reason=orphan} = %v, want 1", got)
		}
		if c := h.sweep(); c.Orphans != 0 {
			t.Fatalf("a second sweep found orphans again: %+v", c)
		}
	})

	t.Run("an upload the server marked ABORTED without reaching the backend is aborted by the sweeper", func(t *testing.T) {
		h := newMPHarness(t, newBackend, 0)
		u := h.begin("t/aborted.bin", 3*kib)
		h.record("aborted", u, h.clk.now().Add(time.Hour))
		now := h.clk.now()
		if _, err := h.st.AbortUpload(t.Context(), "t", "aborted", now, now); err != nil {
			t.Fatal(err)
		}
		c := h.sweep()
		if c.MultipartAborted != 1 || c.MultipartAbortedBytes != 3*kib || c.ObjectsDeleted[store.DeletionAborted] != 1 {
			t.Fatalf("sweep = %+v; want the upload of 3 KiB aborted and the deletion done", c)
		}
		h.gone("after the sweep", u)
		if got := h.counter("presignd_sweeper_multipart_aborted_total", store.DeletionAborted); got != 1 {
			t.Errorf("presignd_sweeper_multipart_aborted_total{reason=aborted} = %v, want 1", got)
		}
	})

	t.Run("a deletion whose upload the backend no longer holds deletes the object and counts no abort", func(t *testing.T) {
		h := newMPHarness(t, newBackend, 0)
		u := h.begin("t/settled.bin", 1*kib)
		h.record("settled", u, h.clk.now().Add(-2*time.Minute))
		if err := h.backend.AbortMultipart(t.Context(), u.key, u.id); err != nil {
			t.Fatal(err)
		}
		c := h.sweep()
		if c.Expired != 1 || c.ObjectsDeleted[store.DeletionExpired] != 1 || c.MultipartAborted != 0 || c.DeleteFailures != 0 {
			t.Fatalf("sweep = %+v; want the deletion done with no abort counted", c)
		}
	})
}

func TestNewRefusesAListerThatCannotAbort(t *testing.T) {
	st, err := sqlite.Open(t.Context(), sqlite.Config{Path: filepath.Join(t.TempDir(), "p.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l, _ := newLocalBackend(t)
	_, err = sweeper.New(sweeper.Config{Store: st, Interval: time.Second,
		MultipartListers: map[string]signer.MultipartLister{"other": l}})
	if err == nil {
		t.Fatal("New accepted a backend that lists multipart uploads but is not in Multipart")
	}
	if _, err := sweeper.New(sweeper.Config{Store: st, Interval: time.Second,
		Multipart: map[string]signer.MultipartUploader{"other": l}, MultipartListers: map[string]signer.MultipartLister{"other": l}}); err != nil {
		t.Fatalf("New with the backend in both: %v", err)
	}
}
