package sqlfiles

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/presignd/presignd/store"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// everyField returns a file with every field of store.File set, times in
// UTC at microsecond precision, as a store reads them back.
func everyField() *store.File {
	at := time.Date(2026, 12, 7, 20, 55, 29, 123456000, time.UTC)
	return &store.File{
		ID: "0193a6f2-0000-7000-8000-000000000001", Tenant: "acme", Category: "documents",
		DisplayName: "Quarterly \"report\" ünï", NameScope: "app-1", Scope: "files/application_id=42",
		Filename: "q1 report.pdf", Key: "acme/documents/q1.pdf", Backend: "s3-main", ContentType: "application/pdf",
		SizeBytes: 123_456_789_012, ChecksumAlgorithm: "SHA256", ChecksumValue: "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=",
		ETag: `"d41d8cd98f00b204e9800998ecf8427e"`, State: store.StateReady, FailureReason: "none",
		Owner: map[string]string{"customer_id": "c-42"}, Metadata: map[string]string{"note": "📄", "empty": ""},
		RequestID: "req-1", RequestHash: "sha256:0f34", UploadCount: 3,
		CreatedAt: at, UpdatedAt: at.Add(time.Minute), CompletedAt: at.Add(2 * time.Minute),
		UploadExpires: at.Add(15 * time.Minute), MultipartUploadID: "2~abc", PartSize: 8 << 20,
		PartChecksumAlgorithm: "CRC32C", CompletedBy: store.CompletedByNotification, ScanResult: "clean", DetectedContentType: "application/pdf",
		ObjectMissingSince: at.Add(time.Hour),
		Uploader:           store.Uploader{Kind: "jwt", ID: "user-7", Name: "Ada ✓"},
		DownloadURLCount:   5, SizeUnknown: true, LastURLAt: at.Add(3 * time.Minute),
		Thumbnails: []store.Thumbnail{{Name: "small", Key: "acme/documents/q1.pdf~thumbs/small.jpg", ContentType: "image/jpeg", Width: 128, Height: 96, SizeBytes: 4321}},
	}
}

func TestEveryFieldIsSet(t *testing.T) {
	// A field added to store.File must be added to the event encoding
	// (and to everyField): the round trip below then proves it kept.
	v := reflect.ValueOf(everyField()).Elem()
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Errorf("everyField leaves store.File.%s zero: set it, and encode it in eventFile", v.Type().Field(i).Name)
		}
	}
}

func TestEventFileRoundTrip(t *testing.T) {
	want := everyField()
	in := everyField()
	in.CreatedAt = in.CreatedAt.In(time.FixedZone("IST", 5*3600+1800)).Add(789) // normalised on the way
	b, err := EncodeEventFile(in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeEventFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
	}
	empty, err := EncodeEventFile(&store.File{ID: "f"})
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeEventFile(empty)
	if err != nil || !reflect.DeepEqual(back, &store.File{ID: "f"}) {
		t.Fatalf("a file with zero fields reads back as %+v, %v (%s)", back, err, empty)
	}
}

// TestEventFileGolden pins the stored encoding: events outlive releases,
// so version 1 must read the same forever.
func TestEventFileGolden(t *testing.T) {
	path := filepath.Join("testdata", "event_file_v1.json")
	b, err := EncodeEventFile(everyField())
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	golden, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	golden = bytes.TrimSpace(golden)
	if !bytes.Equal(b, golden) {
		t.Errorf("EncodeEventFile =\n%s\nwant (%s)\n%s", b, path, golden)
	}
	f, err := DecodeEventFile(golden)
	if err != nil || !reflect.DeepEqual(f, everyField()) {
		t.Errorf("DecodeEventFile(golden) = %+v, %v; want everyField", f, err)
	}
}

// TestEventFileBeforeUploader reads an event written before the scan
// result, detected type, thumbnails, uploader and URL fields were added
// to version 1: they read as zero.
func TestEventFileBeforeUploader(t *testing.T) {
	old, err := os.ReadFile(filepath.Join("testdata", "event_file_v1_before_uploader.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := everyField()
	want.Uploader, want.DownloadURLCount, want.LastURLAt = store.Uploader{}, 0, time.Time{}
	want.ScanResult, want.DetectedContentType, want.Thumbnails, want.SizeUnknown = "", "", nil, false
	f, err := DecodeEventFile(bytes.TrimSpace(old))
	if err != nil || !reflect.DeepEqual(f, want) {
		t.Errorf("DecodeEventFile(old) = %+v, %v; want %+v", f, err, want)
	}
}

func TestDecodeEventFileRefuses(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		is       error
	}{
		{"no version", `{"id":"f"}`, ErrEventFileVersion},
		{"a later version", `{"v":2,"id":"f"}`, ErrEventFileVersion},
		{"not JSON", `{"v":1,`, nil},
		{"not an object", `[1]`, nil},
		{"a field of the wrong type", `{"v":1,"size_bytes":"12"}`, nil},
		{"a time that is not RFC 3339", `{"v":1,"created_at":"yesterday"}`, nil},
		{"null", `null`, ErrEventFileVersion},
		{"a time before year 1 in UTC", `{"v":1,"created_at":"0001-01-01T00:00:00+01:00"}`, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, err := DecodeEventFile([]byte(tt.in))
			if err == nil {
				t.Fatalf("DecodeEventFile(%s) = %+v, want an error", tt.in, f)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Fatalf("DecodeEventFile(%s) = %v, want %v", tt.in, err, tt.is)
			}
		})
	}
}

func FuzzDecodeEventFile(f *testing.F) {
	b, _ := EncodeEventFile(everyField())
	f.Add(b)
	f.Add([]byte(`{"v":1}`))
	f.Add([]byte(`{"v":1,"owner":{"a":"b"},"created_at":"2026-01-02T03:04:05.123456789+05:30"}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := DecodeEventFile(in)
		if err != nil {
			return
		}
		// What decodes re-encodes to the same file.
		again, err := EncodeEventFile(got)
		if err != nil {
			t.Fatalf("EncodeEventFile of a decoded file: %v", err)
		}
		back, err := DecodeEventFile(again)
		if err != nil || !reflect.DeepEqual(back, got) {
			t.Fatalf("re-encoded %s reads back as %+v, %v; want %+v", again, back, err, got)
		}
	})
}

func TestStateEvent(t *testing.T) {
	for _, tt := range []struct {
		from, to store.State
		want     string
	}{
		{store.StatePending, store.StateReady, store.EventFileReady},
		{store.StatePending, store.StateFailed, store.EventFileFailed},
		{store.StatePending, store.StateExpired, store.EventFileExpired},
		{store.StatePending, store.StateAborted, store.EventFileAborted},
		{store.StateFailed, store.StateReady, store.EventFileReady},
		{store.StateReady, store.StateReady, ""},
		{store.StatePending, store.StatePending, ""},
		{store.StateReady, store.StatePending, ""},
	} {
		if got := StateEvent(tt.from, tt.to); got != tt.want {
			t.Errorf("StateEvent(%s, %s) = %q, want %q", tt.from, tt.to, got, tt.want)
		}
	}
}
