//go:build unix

package main

import (
	"log/slog"
	"syscall"
)

// raiseOpenFileLimit sets the soft RLIMIT_NOFILE to the hard limit (the Go
// runtime usually has already) and returns the soft limit in force, or 0
// if it cannot be read.
func raiseOpenFileLimit(log *slog.Logger) uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		log.Warn("read the open-file limit", "err", err)
		return 0
	}
	if lim.Cur < lim.Max {
		raised := lim
		raised.Cur = raised.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err != nil {
			log.Warn("raise the open-file limit", "soft", lim.Cur, "hard", lim.Max, "err", err)
			return uint64(lim.Cur)
		}
		lim = raised
	}
	return uint64(lim.Cur)
}
