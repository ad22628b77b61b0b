package policy_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/presignd/presignd/policy"
)

func TestCheckPublicBaseURL(t *testing.T) {
	for _, tc := range []struct {
		name, base string
		ok         bool
	}{
		{"an https URL with a path is accepted", "https://cdn.example.com/files/", true},
		{"an http URL without a path is accepted", "http://127.0.0.1:9000", true},
		{"a relative URL is refused", "/files/", false},
		{"another scheme is refused", "ftp://example.com/", false},
		{"javascript: is refused", "javascript:alert(1)", false},
		{"a query is refused", "https://cdn.example.com/?x=1", false},
		{"a fragment is refused", "https://cdn.example.com/#x", false},
		{"user information is refused", "https://user:pass@cdn.example.com/", false},
		{"a URL that does not parse is refused", "https://cdn example.com/\x7f", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := policy.CheckPublicBaseURL(tc.base); (err == nil) != tc.ok {
				t.Errorf("CheckPublicBaseURL(%q) = %v, want ok=%v", tc.base, err, tc.ok)
			}
		})
	}
}

func TestPublicURL(t *testing.T) {
	for _, tc := range []struct {
		name, base, key, want string
	}{
		{"a base without a trailing slash gets one", "https://cdn.example.com/files", "t/a/b.png", "https://cdn.example.com/files/t/a/b.png"},
		{"a base with a trailing slash keeps one", "https://cdn.example.com/", "t/b.png", "https://cdn.example.com/t/b.png"},
		{"hostile characters in a key are escaped", "https://cdn.example.com/", "t/a b?x=1#y%2F.png", "https://cdn.example.com/t/a%20b%3Fx=1%23y%252F.png"},
		{"unicode in a key is escaped", "https://cdn.example.com/", "t/ünï.pdf", "https://cdn.example.com/t/%C3%BCn%C3%AF.pdf"},
		{"no base gives no URL", "", "t/b.png", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &policy.Category{PublicBaseURL: tc.base}
			got := c.PublicURL(tc.key)
			if got != tc.want {
				t.Fatalf("PublicURL(%q) = %q, want %q", tc.key, got, tc.want)
			}
			if got == "" {
				return
			}
			u, err := url.Parse(got)
			if err != nil || u.RawQuery != "" || u.Fragment != "" || !strings.HasSuffix(u.Path, tc.key[strings.LastIndex(tc.key, "/")+1:]) {
				t.Errorf("PublicURL(%q) = %q parses as path %q, query %q, fragment %q (%v)", tc.key, got, u.Path, u.RawQuery, u.Fragment, err)
			}
		})
	}
}
