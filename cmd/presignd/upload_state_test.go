package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func validState() *uploadState {
	return &uploadState{
		Version: uploadStateVersion, Server: "http://127.0.0.1:8080", Path: "/data/big.bin",
		Size: 64<<20 + 1, ModTime: 1700000000123456789, FileID: "0b6f9a52-5a7e-4c1e-9d8e-6f1d2a3b4c5d",
		PartSize: 5 << 20, PartCount: 13, PartChecksum: "CRC32C",
		Parts: map[int32]statePart{1: {ETag: `"abc"`, Checksum: "AAAAAA=="}, 13: {ETag: "def"}},
	}
}

func TestUploadStateRoundTripsAtomicallyWithMode0600(t *testing.T) {
	path := filepath.Join(t.TempDir(), "uploads", uploadStateName("http://x", "/f", ""))
	want := validState()
	if err := saveUploadState(path, want); err != nil {
		t.Fatal(err)
	}
	want.Parts[2] = statePart{ETag: "second"}
	if err := saveUploadState(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := loadUploadState(path)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(got)
	b, _ := json.Marshal(want)
	if string(a) != string(b) {
		t.Fatalf("loaded %s, saved %s", a, b)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("state mode %v, want 0600", info.Mode().Perm())
	}
	dir, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if dir.Mode().Perm() != 0o700 {
		t.Errorf("state dir mode %v, want 0700", dir.Mode().Perm())
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("state dir holds %v, want the state alone (no temporary file left)", names)
	}
	if err := removeUploadState(path); err != nil {
		t.Fatal(err)
	}
	if err := removeUploadState(path); err != nil {
		t.Errorf("removing a missing state: %v", err)
	}
	if got, err := loadUploadState(path); got != nil || err != nil {
		t.Errorf("missing state loads as %v, %v; want nil, nil", got, err)
	}
}

func TestUploadStateNameDependsOnServerPathAndCategory(t *testing.T) {
	base := uploadStateName("http://a:1", "/f", "c")
	for _, other := range []string{
		uploadStateName("http://a:2", "/f", "c"),
		uploadStateName("http://a:1", "/g", "c"),
		uploadStateName("http://a:1", "/f", "d"),
		uploadStateName("http://a:1", "/f\x00c", ""),
	} {
		if other == base {
			t.Errorf("two commands share the state name %s", base)
		}
	}
	if uploadStateName("http://a:1", "/f", "c") != base {
		t.Error("the same command gets another state name")
	}
	if strings.ContainsAny(base, `/\`) || !strings.HasSuffix(base, ".json") {
		t.Errorf("state name %q is not a plain .json file name", base)
	}
}

func TestUnusableUploadStatesAreRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*uploadState)
	}{
		{"another version", func(s *uploadState) { s.Version = 2 }},
		{"no file id", func(s *uploadState) { s.FileID = "" }},
		{"a file id with a slash", func(s *uploadState) { s.FileID = "../admin" }},
		{"a file id with a query", func(s *uploadState) { s.FileID = "x?y" }},
		{"a zero size", func(s *uploadState) { s.Size = 0 }},
		{"a zero part size", func(s *uploadState) { s.PartSize = 0 }},
		{"too many parts", func(s *uploadState) { s.PartCount = 10001 }},
		{"a layout too short for the size", func(s *uploadState) { s.PartCount = 12 }},
		{"a layout too long for the size", func(s *uploadState) { s.PartCount = 14 }},
		{"an unknown part checksum", func(s *uploadState) { s.PartChecksum = "MD5" }},
		{"part 0", func(s *uploadState) { s.Parts[0] = statePart{ETag: "x"} }},
		{"a part past the count", func(s *uploadState) { s.Parts[14] = statePart{ETag: "x"} }},
		{"a part without an ETag", func(s *uploadState) { s.Parts[3] = statePart{} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := validState()
			tc.change(s)
			raw, err := json.Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := parseUploadState(raw); !errors.Is(err, errBadUploadState) {
				t.Fatalf("parse: %v, want errBadUploadState", err)
			}
		})
	}
	for _, raw := range []string{"", "{", "[]", `{"version":"1"}`, strings.Repeat(" ", maxUploadStateSize+1)} {
		if _, err := parseUploadState([]byte(raw)); !errors.Is(err, errBadUploadState) {
			t.Errorf("parse %.20q: %v, want errBadUploadState", raw, err)
		}
	}
	raw, _ := json.Marshal(validState())
	if _, err := parseUploadState(raw); err != nil {
		t.Fatalf("a valid state is refused: %v", err)
	}
}

func TestPartSpanCoversTheFileExactly(t *testing.T) {
	for _, tc := range []struct{ size, partSize int64 }{
		{1, 5 << 20}, {5 << 20, 5 << 20}, {5<<20 + 1, 5 << 20}, {64 << 20, 5 << 20}, {10, 3},
	} {
		count := partCount(tc.size, tc.partSize)
		var next int64
		for n := int32(1); int64(n) <= count; n++ {
			off, length := partSpan(n, tc.size, tc.partSize)
			if off != next || length <= 0 || (int64(n) < count && length != tc.partSize) {
				t.Fatalf("size %d, part size %d: part %d at %d+%d, want it at %d", tc.size, tc.partSize, n, off, length, next)
			}
			next = off + length
		}
		if next != tc.size {
			t.Errorf("size %d, part size %d: %d parts cover %d bytes", tc.size, tc.partSize, count, next)
		}
	}
}

func FuzzParseUploadState(f *testing.F) {
	raw, _ := json.Marshal(validState())
	f.Add(raw)
	f.Add([]byte(`{"version":1,"file_id":"a","size":1,"part_size":1,"part_count":1,"parts":{"1":{"etag":"e"}}}`))
	f.Add([]byte(`{"version":1,"parts":{"-1":{}}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		s, err := parseUploadState(raw)
		if err != nil {
			if !errors.Is(err, errBadUploadState) {
				t.Fatalf("error %v does not wrap errBadUploadState", err)
			}
			return
		}
		// A state that parses describes a layout that covers its size,
		// with parts inside it.
		if partCount(s.Size, s.PartSize) != int64(s.PartCount) || s.PartCount < 1 || s.PartCount > 10000 {
			t.Fatalf("accepted layout %d x %d for %d bytes", s.PartCount, s.PartSize, s.Size)
		}
		for n, p := range s.Parts {
			if n < 1 || n > s.PartCount || p.ETag == "" {
				t.Fatalf("accepted part %d %+v", n, p)
			}
		}
	})
}

func TestASecondRunOfTheSameUploadIsRefusedWhileTheFirstHoldsItsLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "uploads", "x.json")
	unlock, err := lockUpload(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lockUpload(path); !errors.Is(err, errUploadInProgress) {
		t.Fatalf("second lock: %v, want errUploadInProgress", err)
	}
	unlock()
	if _, err := os.Stat(path + ".lock"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lock file left after unlock: %v", err)
	}
	unlock, err = lockUpload(path)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	unlock()
}
