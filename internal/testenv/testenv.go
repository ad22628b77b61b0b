// Package testenv gates integration tests on the services named by
// environment variables. Outside CI a missing variable skips the test with
// a message saying how to turn it on; in CI (CI=true) it fails the test, so
// that CI never silently skips an integration test.
package testenv

import (
	"os"
	"testing"
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
