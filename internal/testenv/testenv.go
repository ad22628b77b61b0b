// Package testenv gates integration tests on the services named by
// environment variables. Outside CI a missing variable skips the test with
// a message saying how to turn it on; in CI (CI=true) it fails the test, so
// that CI never silently skips an integration test.
package testenv

import (
	"bytes"
	"os"
	"os/exec"
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

// Tool returns the path of the program name found on PATH. When it is
// missing the test is skipped with a message naming name and how to get it
// (hint), or failed when CI=true.
func Tool(tb testing.TB, name, hint string) string {
	tb.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		Missing(tb, name+" is not on PATH: "+hint)
	}
	return path
}

// File returns path when it exists. When it does not the test is skipped
// with a message naming path and how to get it (hint), or failed when
// CI=true.
func File(tb testing.TB, path, hint string) string {
	tb.Helper()
	if _, err := os.Stat(path); err != nil {
		Missing(tb, path+" is missing: "+hint)
	}
	return path
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
