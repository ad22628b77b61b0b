package proc

import (
	"os"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	for _, tc := range []struct {
		name string
		stat string
		want time.Duration
	}{
		{"a plain name", "42 (presignd) S 1 42 42 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 9 0", 3250 * time.Millisecond},
		{"a name with spaces and parentheses", "7 (a (b) c) R 1 7 7 0 -1 0 0 0 0 0 3 4 0 0", 70 * time.Millisecond},
		{"too few fields", "7 (x) R 1 2 3", 0},
		{"no command name", "garbage", 0},
		{"a time that is not a number", "7 (x) R 1 7 7 0 -1 0 0 0 0 0 x 4 0 0", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseStatCPU(tc.stat); got != tc.want {
				t.Errorf("parseStatCPU = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseStatus(t *testing.T) {
	got := parseStatus("Name:\tpresignd\nVmHWM:\t   70000 kB\nVmRSS:\t   40000 kB\nRssFile:\t   30000 kB\nThreads:\t9\nbad line\nVmSwap: x kB\n")
	want := Memory{RSS: 40000 << 10, File: 30000 << 10, HWM: 70000 << 10}
	if got != want {
		t.Errorf("parseStatus = %+v, want %+v", got, want)
	}
}

func TestReadsThisProcess(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc on this system")
	}
	if m := ReadMemory(os.Getpid()); m.RSS <= 0 || m.HWM < m.RSS {
		t.Errorf("ReadMemory(self) = %+v, want a positive RSS and HWM ≥ RSS", m)
	}
	if CPU(-1) != 0 {
		t.Error("CPU of a process that does not exist is not 0")
	}
}
