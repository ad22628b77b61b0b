//go:build !unix

package main

import "log/slog"

// raiseOpenFileLimit returns 0: the limit is not known on this system.
func raiseOpenFileLimit(*slog.Logger) uint64 { return 0 }
