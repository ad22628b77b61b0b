// Package archtest holds the test that keeps the import rules the
// architecture depends on (ARCHITECTURE.md, "Rules"). It has no code of
// its own.
package archtest
