// Package proc reads a process's CPU time and memory from Linux's /proc,
// for the load harnesses under bench/.
package proc

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is USER_HZ, the unit of /proc/<pid>/stat's times: 100 on Linux.
const clockTick = time.Second / 100

// CPU is the CPU time (user and system) process pid has used, from
// /proc/<pid>/stat; 0 when the process is gone or the file does not parse.
func CPU(pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	return parseStatCPU(string(raw))
}

// parseStatCPU reads utime+stime from the text of /proc/<pid>/stat. The
// fields after the command name, which is in parentheses and may hold
// spaces and parentheses: state is the first, utime the 12th and stime
// the 13th.
func parseStatCPU(stat string) time.Duration {
	i := strings.LastIndex(stat, ") ")
	if i < 0 {
		return 0
	}
	f := strings.Fields(stat[i+2:])
	if len(f) < 13 {
		return 0
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(utime+stime) * clockTick
}

// Memory is what /proc/<pid>/status says of a process's memory, in bytes.
type Memory struct {
	// RSS is the resident set (VmRSS); File the part of it that is mapped
	// files (RssFile), such as the binary's own pages; HWM the peak RSS
	// since start (VmHWM).
	RSS, File, HWM int64
}

// ReadMemory reads process pid's memory; zero when it is gone.
func ReadMemory(pid int) Memory {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}
	}
	return parseStatus(string(raw))
}

func parseStatus(status string) Memory {
	var m Memory
	for line := range strings.SplitSeq(status, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			m.RSS = kb << 10
		case "RssFile:":
			m.File = kb << 10
		case "VmHWM:":
			m.HWM = kb << 10
		}
	}
	return m
}
