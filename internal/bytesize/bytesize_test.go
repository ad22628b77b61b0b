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

func TestDescribe(t *testing.T) {
	for n, want := range map[int64]string{
		1: "1 byte", 16: "16 bytes", 1023: "1023 bytes", 5 << 20: "5242880 bytes (5 MiB)", 10<<20 + 1: "10485761 bytes (10 MiB)",
	} {
		if got := Describe(n); got != want {
			t.Errorf("Describe(%d) = %q, want %q", n, got, want)
		}
	}
}
