//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package main

import (
	"errors"
	"strings"
	"testing"
)

// TestSecondServeOnTheSameDataDirIsRefused: while one holder has the data
// dir's lock, a second is refused with a message naming the dir and the
// other presignd; once released, the dir can be taken again.
func TestSecondServeOnTheSameDataDirIsRefused(t *testing.T) {
	dir := t.TempDir()
	unlock, err := lockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = lockDataDir(dir)
	if !errors.Is(err, errDataDirInUse) || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "another presignd") {
		t.Fatalf("second lock: %v, want errDataDirInUse naming %s and another presignd", err, dir)
	}
	unlock()
	again, err := lockDataDir(dir)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	again()
}
