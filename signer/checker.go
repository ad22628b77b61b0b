package signer

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Checker is an optional capability of a backend that answers preflight
// checks: `presignd doctor` runs all of them, /readyz the cheap Probe.
type Checker interface {
	// Probe asks the backend about its bucket with the configured
	// credentials. It fails when the credentials are refused or the bucket
	// cannot be reached or does not exist; otherwise it returns the
	// backend's clock as its answer's Date header stated it (zero when
	// there was none).
	Probe(ctx context.Context) (Probe, error)
	// CORS returns the bucket's CORS rules; none (and no error) when the
	// bucket has no CORS configuration. A backend without per-bucket CORS
	// rules (MinIO) returns an error wrapping ErrUnsupported.
	CORS(ctx context.Context) ([]CORSRule, error)
}

// Probe is what a backend's answer to Checker.Probe told.
type Probe struct {
	// ServerTime is the backend's Date header; zero when it sent none.
	ServerTime time.Time
	// Sent and Received bracket the request, so that a clock skew is
	// measured against the middle of the round trip.
	Sent, Received time.Time
}

// Skew is how far the backend's clock is ahead of the local one (negative
// when behind), measured against the middle of the round trip, and
// whether the backend stated its clock at all. A Date header has whole
// seconds, so the skew is known to about a second.
func (p Probe) Skew() (time.Duration, bool) {
	if p.ServerTime.IsZero() {
		return 0, false
	}
	mid := p.Sent.Add(p.Received.Sub(p.Sent) / 2)
	return p.ServerTime.Sub(mid.Truncate(time.Second)), true
}

// CORSRule is one CORS rule of a bucket, as S3 and GCS state them.
type CORSRule struct {
	// Origins are the allowed origins ("*" for any; S3 allows one "*"
	// wildcard inside an origin).
	Origins []string
	// Methods are the allowed methods ("*" for any, as GCS allows).
	Methods []string
	// Headers are the request headers allowed in a preflight ("*" for
	// any): S3's AllowedHeaders, GCS's responseHeader.
	Headers []string
	// AnyHeader is set when the rule allows every request header.
	AnyHeader bool
}

// MissingCORS says why no rule lets a browser at origin send method with
// headers (header names, any case): "" when one does. The answer names the
// rule that would be needed, for people to add it.
func MissingCORS(rules []CORSRule, origin, method string, headers []string) string {
	want := "a CORS rule allowing origin " + origin + ", method " + method
	if len(headers) > 0 {
		want += " and headers " + strings.Join(headers, ", ")
	}
	if len(rules) == 0 {
		return "the bucket has no CORS rules; add " + want
	}
	closest := ""
	for _, r := range rules {
		if !slices.ContainsFunc(r.Origins, func(o string) bool { return originMatches(o, origin) }) {
			continue
		}
		if !slices.ContainsFunc(r.Methods, func(m string) bool { return m == "*" || strings.EqualFold(m, method) }) {
			continue
		}
		var missing []string
		for _, h := range headers {
			if !r.AnyHeader && !slices.ContainsFunc(r.Headers, func(a string) bool { return a == "*" || strings.EqualFold(a, h) }) {
				missing = append(missing, h)
			}
		}
		if len(missing) == 0 {
			return ""
		}
		closest = "the rule for origin " + origin + " and method " + method + " does not allow headers " + strings.Join(missing, ", ")
	}
	if closest != "" {
		return closest + "; add them to its allowed headers"
	}
	return "no CORS rule allows origin " + origin + " with method " + method + "; add " + want
}

// originMatches reports whether a rule's origin pattern (with at most one
// "*") matches origin, case-insensitively.
func originMatches(pattern, origin string) bool {
	if pattern == "*" {
		return true
	}
	before, after, wild := strings.Cut(strings.ToLower(pattern), "*")
	o := strings.ToLower(origin)
	if !wild {
		return before == o
	}
	return len(o) >= len(before)+len(after) && strings.HasPrefix(o, before) && strings.HasSuffix(o, after)
}

// ParseDate reads an HTTP Date header; zero when it is absent or malformed.
func ParseDate(h http.Header) time.Time {
	t, err := http.ParseTime(h.Get("Date"))
	if err != nil {
		return time.Time{}
	}
	return t
}
