package suggest

import "testing"

func TestClosest(t *testing.T) {
	names := []string{"method", "max_size", "backend", "url_ttl", "filename", "serve", "version"}
	for _, tc := range []struct{ in, want string }{
		{"methd", "method"},
		{"max_sise", "max_size"},
		{"filenme", "filename"},
		{"serv", "serve"},
		{"verison", "version"},
		{"method", ""}, // not a typo
		{"colour", ""}, // nothing close
		{"x", ""},      // too short to guess
		{"backends", "backend"},
	} {
		if got := Closest(tc.in, names); got != tc.want {
			t.Errorf("Closest(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
