package signer

import (
	"testing"
	"time"
)

func TestMissingCORS(t *testing.T) {
	put := []string{"Content-Type", "Content-Md5"}
	tests := []struct {
		name    string
		rules   []CORSRule
		origin  string
		method  string
		headers []string
		want    string // "" when allowed
	}{
		{"no rules names the rule to add", nil, "https://a.example", "PUT", put,
			"the bucket has no CORS rules; add a CORS rule allowing origin https://a.example, method PUT and headers Content-Type, Content-Md5"},
		{"an exact rule allows", []CORSRule{{Origins: []string{"https://a.example"}, Methods: []string{"PUT"}, Headers: []string{"content-type", "content-md5"}}}, "https://a.example", "PUT", put, ""},
		{"wildcards allow", []CORSRule{{Origins: []string{"*"}, Methods: []string{"*"}, Headers: []string{"*"}}}, "https://a.example", "PUT", put, ""},
		{"a subdomain wildcard allows a subdomain", []CORSRule{{Origins: []string{"https://*.example"}, Methods: []string{"PUT"}, AnyHeader: true}}, "https://app.example", "PUT", put, ""},
		{"a subdomain wildcard does not allow another domain", []CORSRule{{Origins: []string{"https://*.example"}, Methods: []string{"PUT"}, AnyHeader: true}}, "https://app.evil", "PUT", put,
			"no CORS rule allows origin https://app.evil with method PUT; add a CORS rule allowing origin https://app.evil, method PUT and headers Content-Type, Content-Md5"},
		{"another method is not allowed", []CORSRule{{Origins: []string{"*"}, Methods: []string{"GET"}, Headers: []string{"*"}}}, "https://a.example", "PUT", put,
			"no CORS rule allows origin https://a.example with method PUT; add a CORS rule allowing origin https://a.example, method PUT and headers Content-Type, Content-Md5"},
		{"a missing header is named", []CORSRule{{Origins: []string{"*"}, Methods: []string{"PUT"}, Headers: []string{"Content-Type"}}}, "https://a.example", "PUT", put,
			"the rule for origin https://a.example and method PUT does not allow headers Content-Md5; add them to its allowed headers"},
		{"a POST without headers needs origin and method only", []CORSRule{{Origins: []string{"https://a.example"}, Methods: []string{"POST"}}}, "https://a.example", "POST", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MissingCORS(tt.rules, tt.origin, tt.method, tt.headers); got != tt.want {
				t.Fatalf("MissingCORS = %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestProbeSkew(t *testing.T) {
	sent := time.Date(2026, 12, 7, 10, 0, 0, 200e6, time.UTC)
	for _, tc := range []struct {
		name   string
		server time.Time
		want   time.Duration
		ok     bool
	}{
		{"no Date header is no measurement", time.Time{}, 0, false},
		{"a clock in step measures zero", sent.Truncate(time.Second), 0, true},
		{"a clock two minutes ahead measures two minutes", sent.Truncate(time.Second).Add(2 * time.Minute), 2 * time.Minute, true},
		{"a clock behind measures a negative skew", sent.Truncate(time.Second).Add(-90 * time.Second), -90 * time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Probe{ServerTime: tc.server, Sent: sent, Received: sent.Add(300 * time.Millisecond)}.Skew()
			if got != tc.want || ok != tc.ok {
				t.Fatalf("Skew = %s, %v; want %s, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}
