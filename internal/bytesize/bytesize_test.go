package bytesize

import "testing"

func TestFormat(t *testing.T) {
	tests := map[int64]string{
		0: "0 B", 1023: "1023 B", 1024: "1 KiB", 1536: "1.5 KiB", 10 << 20: "10 MiB",
		5 << 30: "5 GiB", 1<<40 + 1<<39: "1.5 TiB", 1 << 62: "4 EiB",
	}
	for n, want := range tests {
		if got := Format(n); got != want {
			t.Errorf("Format(%d) = %q, want %q", n, got, want)
		}
	}
}
