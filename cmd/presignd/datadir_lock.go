//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// dataDirLockName is the file in the data dir that a running presignd
// holds an exclusive lock on.
const dataDirLockName = "presignd.lock"

// errDataDirInUse: another process holds the data dir's lock.
var errDataDirInUse = errors.New("another presignd process holds it")

// lockDataDir takes an exclusive, non-blocking lock on the data dir's lock
// file, so that two presignd processes never write the same SQLite
// database, local objects and secret. The lock lasts until unlock is
// called or the process ends (also when it is killed: the kernel releases
// it). A dir another process holds is refused with an error wrapping
// errDataDirInUse that names the dir.
func lockDataDir(dir string) (unlock func(), err error) {
	path := filepath.Join(dir, dataDirLockName)
	f, err := flockFile(path)
	switch {
	case errors.Is(err, errLockHeld):
		return nil, fmt.Errorf("data dir %s is locked (%s): %w; stop it or give this one another --data-dir",
			dir, path, errDataDirInUse)
	case err != nil:
		return nil, fmt.Errorf("data dir %s: %w", dir, err)
	}
	// The holder's pid, for operators; the lock itself is what counts.
	if err := f.Truncate(0); err == nil {
		fmt.Fprintf(f, "%d\n", os.Getpid())
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// errLockHeld: another process holds the lock flockFile asked for.
var errLockHeld = errors.New("lock held by another process")

// flockFile opens (creating it, 0600) the file at path and takes an
// exclusive, non-blocking flock on it, retried on EINTR. A lock another
// process holds is errLockHeld; the file is then closed. The kernel
// releases the lock when the file is closed or the process ends.
func flockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock file: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errLockHeld
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, nil
}
