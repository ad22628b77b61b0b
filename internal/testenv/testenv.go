// Package testenv gates integration tests on the services named by
// environment variables. Outside CI a missing variable skips the test with
// a message saying how to turn it on; in CI (CI=true) it fails the test, so
// that CI never silently skips an integration test.
package testenv

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Get returns the value of the environment variable name. When it is unset
// the test is skipped with hint, or failed when CI=true.
func Get(tb testing.TB, name, hint string) string {
	tb.Helper()
	v := os.Getenv(name)
	if v == "" {
		Missing(tb, name+" is not set: "+hint)
	}
	return v
}

// Missing skips the test with why, or fails it when CI=true.
func Missing(tb testing.TB, why string) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf("CI must run this test, but %s", why)
	}
	tb.Skip(why)
}

// GCSVectorsDir returns the folder of the GCS V4 conformance vectors, kept
// beside the project (../shared/testdata/gcs from the module root). When
// it is missing the test is skipped, or failed when CI=true.
func GCSVectorsDir(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
	vd := filepath.Join(dir, "..", "shared", "testdata", "gcs")
	if _, err := os.Stat(filepath.Join(vd, "v4_signatures.json")); err != nil {
		Missing(tb, "GCS conformance vectors not found (want ../shared/testdata/gcs beside the module root): "+err.Error())
	}
	return vd
}

// SyncBuffer collects output (a logger's, say) written from several
// goroutines while a test reads it.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// WaitFor fails tb unless cond holds within 10 seconds, checking it every
// millisecond; what names the condition in the failure.
func WaitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
