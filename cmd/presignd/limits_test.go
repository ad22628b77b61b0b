package main

import (
	"io"
	"log/slog"
	"testing"
)

func TestConnectionCapStaysBelowTheOpenFileLimit(t *testing.T) {
	tests := []struct {
		name       string
		configured int
		fdLimit    uint64
		want       int
	}{
		{"automatic on 1024 files: half of what the reserve leaves, per listener", 0, 1024, 384},
		{"automatic on 4096 files", 0, 4096, 1920},
		{"automatic on a large limit stops at 10000", 0, 1 << 20, 10000},
		{"automatic with an unknown limit", 0, 0, 10000},
		{"automatic on a tiny limit keeps a few", 0, 64, 16},
		{"a configured cap that fits is kept", 300, 1024, 300},
		{"a configured cap over the limit is lowered", 5000, 1024, 384},
		{"a configured cap with an unknown limit is kept", 50000, 0, 50000},
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := connectionCap(tt.configured, tt.fdLimit, log); got != tt.want {
				t.Errorf("connectionCap(%d, %d) = %d, want %d", tt.configured, tt.fdLimit, got, tt.want)
			}
		})
	}
}
