package storetest

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/presignd/presignd/store"
)

const (
	tenantA = "tenant-a"
	tenantB = "tenant-b"
)

// base is a fixed instant with sub-microsecond digits, so truncation shows.
var base = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)

// newFile returns a minimal PENDING file of tenant with a fresh ID.
func newFile(tenant string) *store.File {
	id := uuid.NewString()
	return &store.File{
		ID:          id,
		Tenant:      tenant,
		Category:    "default",
		Filename:    id + ".bin",
		Key:         tenant + "/default/" + id + ".bin",
		Backend:     "local",
		ContentType: "application/octet-stream",
		SizeBytes:   100,
		State:       store.StatePending,
	}
}

// fullFile returns a file with every field set, its times in a zone other
// than UTC and with nanoseconds.
func fullFile(tenant string) *store.File {
	zone := time.FixedZone("IST", 5*3600+1800)
	created := base.In(zone)
	f := newFile(tenant)
	f.Category = "documents"
	f.DisplayName = "Quarterly report"
	f.NameScope = "application-1"
	f.Scope = "files/application_id=42"
	f.Filename = "q1 report.pdf"
	f.Key = tenant + "/documents/" + f.ID + ".pdf"
	f.Backend = "s3-main"
	f.ContentType = "application/pdf"
	f.SizeBytes = 123_456_789_012
	f.ChecksumAlgorithm = "SHA256"
	f.ChecksumValue = "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg="
	f.ETag = `"d41d8cd98f00b204e9800998ecf8427e"`
	f.State = store.StateReady
	f.FailureReason = "none, but kept"
	f.Owner = map[string]string{"customer_id": "c-42", "application_id": "app-1"}
	f.Metadata = map[string]string{"source": "web", "note": "ünïcödé 📄", "empty": "", `quote"s`: `{"json":true}`}
	f.RequestID = "req-" + f.ID
	f.RequestHash = "sha256:0f343b0931126a20f133d67c2b018a3b"
	f.UploadCount = 3
	f.CreatedAt = created
	f.UpdatedAt = created.Add(time.Minute + 123)
	f.CompletedAt = created.Add(2*time.Minute + 456)
	f.UploadExpires = created.Add(15*time.Minute + 789)
	f.MultipartUploadID = "2~bXVsdGlwYXJ0/upload.id=" + f.ID
	f.PartSize = 8 << 20
	f.PartChecksumAlgorithm = "CRC32C"
	f.CompletedBy = store.CompletedByNotification
	f.Uploader = store.Uploader{Kind: "jwt", ID: "user-7@example.com", Name: "Ada Lovelace ✓"}
	f.LastURLAt = created.Add(3*time.Minute + 321)
	f.SizeUnknown = true
	return f
}

// stored returns what a store keeps of f: times truncated to the
// microsecond in UTC, empty maps as nil.
func stored(f *store.File) *store.File {
	c := *f
	c.CreatedAt = storedTime(f.CreatedAt)
	c.UpdatedAt = storedTime(f.UpdatedAt)
	c.CompletedAt = storedTime(f.CompletedAt)
	c.UploadExpires = storedTime(f.UploadExpires)
	c.LastURLAt = storedTime(f.LastURLAt)
	c.Owner = storedMap(f.Owner)
	c.Metadata = storedMap(f.Metadata)
	return &c
}

func storedTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.Truncate(time.Microsecond).UTC()
}

func storedMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(m)
}

// diffFile lists the fields in which got differs from want. Times must be
// equal instants and, when set, in UTC; maps must be equal and nil when
// empty.
func diffFile(want, got *store.File) []string {
	var d []string
	str := func(name, w, g string) {
		if w != g {
			d = append(d, fmt.Sprintf("%s = %q, want %q", name, g, w))
		}
	}
	str("ID", want.ID, got.ID)
	str("Tenant", want.Tenant, got.Tenant)
	str("Category", want.Category, got.Category)
	str("DisplayName", want.DisplayName, got.DisplayName)
	str("NameScope", want.NameScope, got.NameScope)
	str("Scope", want.Scope, got.Scope)
	str("Filename", want.Filename, got.Filename)
	str("Key", want.Key, got.Key)
	str("Backend", want.Backend, got.Backend)
	str("ContentType", want.ContentType, got.ContentType)
	str("ChecksumAlgorithm", want.ChecksumAlgorithm, got.ChecksumAlgorithm)
	str("ChecksumValue", want.ChecksumValue, got.ChecksumValue)
	str("ETag", want.ETag, got.ETag)
	str("State", string(want.State), string(got.State))
	str("FailureReason", want.FailureReason, got.FailureReason)
	str("RequestID", want.RequestID, got.RequestID)
	str("RequestHash", want.RequestHash, got.RequestHash)
	if want.SizeBytes != got.SizeBytes {
		d = append(d, fmt.Sprintf("SizeBytes = %d, want %d", got.SizeBytes, want.SizeBytes))
	}
	str("MultipartUploadID", want.MultipartUploadID, got.MultipartUploadID)
	str("PartChecksumAlgorithm", want.PartChecksumAlgorithm, got.PartChecksumAlgorithm)
	str("CompletedBy", want.CompletedBy, got.CompletedBy)
	str("ScanResult", want.ScanResult, got.ScanResult)
	str("DetectedContentType", want.DetectedContentType, got.DetectedContentType)
	if want.PartSize != got.PartSize {
		d = append(d, fmt.Sprintf("PartSize = %d, want %d", got.PartSize, want.PartSize))
	}
	if want.UploadCount != got.UploadCount {
		d = append(d, fmt.Sprintf("UploadCount = %d, want %d", got.UploadCount, want.UploadCount))
	}
	d = append(d, diffMap("Owner", want.Owner, got.Owner)...)
	d = append(d, diffMap("Metadata", want.Metadata, got.Metadata)...)
	d = append(d, diffTime("CreatedAt", want.CreatedAt, got.CreatedAt)...)
	d = append(d, diffTime("UpdatedAt", want.UpdatedAt, got.UpdatedAt)...)
	d = append(d, diffTime("CompletedAt", want.CompletedAt, got.CompletedAt)...)
	d = append(d, diffTime("UploadExpires", want.UploadExpires, got.UploadExpires)...)
	d = append(d, diffTime("LastURLAt", want.LastURLAt, got.LastURLAt)...)
	if want.Uploader != got.Uploader {
		d = append(d, fmt.Sprintf("Uploader = %+v, want %+v", got.Uploader, want.Uploader))
	}
	if want.SizeUnknown != got.SizeUnknown {
		d = append(d, fmt.Sprintf("SizeUnknown = %t, want %t", got.SizeUnknown, want.SizeUnknown))
	}
	if want.DownloadURLCount != got.DownloadURLCount {
		d = append(d, fmt.Sprintf("DownloadURLCount = %d, want %d", got.DownloadURLCount, want.DownloadURLCount))
	}
	return d
}

func diffMap(name string, want, got map[string]string) []string {
	if len(want) == 0 && got != nil {
		return []string{fmt.Sprintf("%s = %#v, want nil", name, got)}
	}
	if !maps.Equal(want, got) {
		return []string{fmt.Sprintf("%s = %v, want %v", name, got, want)}
	}
	return nil
}

func diffTime(name string, want, got time.Time) []string {
	switch {
	case !want.Equal(got):
		return []string{fmt.Sprintf("%s = %s, want %s", name, fmtTime(got), fmtTime(want))}
	case !got.IsZero() && got.Location() != time.UTC:
		return []string{fmt.Sprintf("%s is in %s, want UTC", name, got.Location())}
	}
	return nil
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "zero"
	}
	return t.Format(time.RFC3339Nano)
}

// checkFile fails t when got differs from want.
func checkFile(t testing.TB, what string, want, got *store.File) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: nil file", what)
	}
	if d := diffFile(want, got); len(d) > 0 {
		t.Errorf("%s differs:\n  %s", what, joinLines(d))
	}
}

func joinLines(lines []string) string {
	s := ""
	for i, l := range lines {
		if i > 0 {
			s += "\n  "
		}
		s += l
	}
	return s
}

// mustCreate creates f with no quota.
func mustCreate(t testing.TB, s store.Store, f *store.File) {
	t.Helper()
	if err := s.CreateFile(t.Context(), f, store.Quota{}); err != nil {
		t.Fatalf("CreateFile(%s %q): %v", f.ID, f.DisplayName, err)
	}
}

// mustGet returns the tenant's file id.
func mustGet(t testing.TB, s store.Store, tenant, id string) *store.File {
	t.Helper()
	f, err := s.GetFile(t.Context(), tenant, id)
	if err != nil {
		t.Fatalf("GetFile(%s, %s): %v", tenant, id, err)
	}
	return f
}

// wantErr fails t unless err matches want with errors.Is (want nil: err
// must be nil).
func wantErr(t testing.TB, what string, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("%s: unexpected error %v", what, err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("%s: error %v, want %v", what, err, want)
	}
}

// wantNameTaken checks the two sides of ErrNameTaken for an err that
// matched want: ErrNameTaken is also ErrAlreadyExists, and a plain
// ErrAlreadyExists (an ID or request ID taken) is never ErrNameTaken.
func wantNameTaken(t testing.TB, what string, err, want error) {
	t.Helper()
	switch want {
	case store.ErrNameTaken:
		if !errors.Is(err, store.ErrAlreadyExists) {
			t.Errorf("%s: ErrNameTaken %v does not match ErrAlreadyExists", what, err)
		}
	case store.ErrAlreadyExists:
		if errors.Is(err, store.ErrNameTaken) {
			t.Errorf("%s: error %v is ErrNameTaken, want plain ErrAlreadyExists", what, err)
		}
	}
}

// wantNotFound fails t unless the tenant's file id is gone.
func wantNotFound(t testing.TB, s store.Store, tenant, id string) {
	t.Helper()
	_, err := s.GetFile(t.Context(), tenant, id)
	wantErr(t, "GetFile of a file that should not exist", err, store.ErrNotFound)
}

// ids returns the IDs of files in order.
func ids(files []*store.File) []string {
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = f.ID
	}
	return out
}

// names returns the sorted display names of files.
func names(files []*store.File) []string {
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = f.DisplayName
	}
	slices.Sort(out)
	return out
}

// expirePast expires every PENDING upload past expiredBefore as a sweeper
// does: it lists them (ExpiringUploads) and expires those it listed.
func expirePast(t testing.TB, s store.Lifecycle, expiredBefore, now time.Time) []*store.File {
	t.Helper()
	listed, err := s.ExpiringUploads(t.Context(), expiredBefore, 1000)
	wantErr(t, "ExpiringUploads", err, nil)
	expired, err := s.ExpireUploads(t.Context(), ids(listed), expiredBefore, now)
	wantErr(t, "ExpireUploads", err, nil)
	return expired
}
