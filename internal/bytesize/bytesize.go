// Package bytesize formats byte counts for people.
package bytesize

import (
	"fmt"
	"strconv"
	"strings"
)

// Format renders n bytes in binary units with at most one decimal:
// "512 B", "1.5 KiB", "10 MiB".
func Format(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	s := strconv.FormatFloat(float64(n)/float64(div), 'f', 1, 64)
	return strings.TrimSuffix(s, ".0") + " " + string("KMGTPE"[exp]) + "iB"
}

// Describe renders n bytes exactly and, from 1 KiB up, in binary units
// too: "512 bytes", "5242880 bytes (5 MiB)".
func Describe(n int64) string {
	if n == 1 {
		return "1 byte"
	}
	if n < 1024 && n > -1024 {
		return fmt.Sprintf("%d bytes", n)
	}
	return fmt.Sprintf("%d bytes (%s)", n, Format(n))
}
