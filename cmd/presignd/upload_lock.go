//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package main

import (
	"errors"
	"os"
	"path/filepath"
)

// lockUpload takes an exclusive, non-blocking lock on the lock file beside
// an upload's state, so that two runs of the same upload command never
// send the same parts and write the same state at once. The kernel
// releases the lock when the process ends, also when it is killed; unlock
// removes the file. A lock another process holds is refused with
// errUploadInProgress.
func lockUpload(statePath string) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(statePath), 0o700); err != nil {
		return nil, err
	}
	path := statePath + ".lock"
	for {
		f, err := flockFile(path)
		switch {
		case errors.Is(err, errLockHeld):
			return nil, errUploadInProgress
		case err != nil:
			return nil, err
		}
		// The holder before us may have removed the file after we opened
		// it: then the lock we hold is on a name nobody finds; start over.
		held, err1 := f.Stat()
		named, err2 := os.Stat(path)
		if err1 != nil || err2 != nil || !os.SameFile(held, named) {
			f.Close()
			continue
		}
		return func() {
			os.Remove(path)
			f.Close()
		}, nil
	}
}
