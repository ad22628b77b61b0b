package azure

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Ping reads the container's properties with the shared key, or with a
// Credential gets a user delegation key (the one signing, when it is
// fresh) and reads them with the Credential's token, which proves the
// credential valid and the container reachable, and returns the time
// Azure's answer carries in its Date header (to measure clock skew: a SAS
// signed by a clock far from Azure's is refused or lives longer than
// meant). A missing container, a wrong key or credential or an unreachable
// endpoint is an error saying which; one that Azure could not be reached
// for, or no delegation key be had from, wraps signer.ErrUnavailable.
func (s *Signer) Ping(ctx context.Context) (serverTime time.Time, err error) {
	if s.ud != nil {
		t := s.now().UTC()
		if _, err := s.ud.key(ctx, t, t.Truncate(time.Second).Add(time.Minute)); err != nil {
			return time.Time{}, err
		}
	}
	props, err := s.client.GetProperties(ctx, nil)
	if err != nil {
		return time.Time{}, s.fail(ctx, "ping container", s.container, err)
	}
	if props.Date == nil {
		return time.Time{}, fmt.Errorf("azure: ping container %s: the answer has no Date header", s.container)
	}
	return *props.Date, nil
}

// CORSRule is one cross-origin rule of the account's blob service.
type CORSRule struct {
	AllowedOrigins []string
	AllowedMethods []string
	AllowedHeaders []string
	ExposedHeaders []string
	MaxAge         time.Duration
}

// CORSRules returns the blob service's CORS rules, which browsers need to
// PUT to and GET from the signed URLs of another origin (a rule must allow
// the origin, PUT, and the headers the targets carry: x-ms-blob-type,
// Content-Type, x-ms-blob-content-disposition, Content-MD5). Reading them
// takes the shared key of the account or, with a Credential, an identity
// whose role lets it read the blob service's properties.
func (s *Signer) CORSRules(ctx context.Context) ([]CORSRule, error) {
	props, err := s.svc.GetProperties(ctx, nil)
	if err != nil {
		return nil, s.fail(ctx, "get service properties of", s.account, err)
	}
	var out []CORSRule
	for _, r := range props.CORS {
		if r == nil {
			continue
		}
		rule := CORSRule{
			AllowedOrigins: splitList(r.AllowedOrigins),
			AllowedMethods: splitList(r.AllowedMethods),
			AllowedHeaders: splitList(r.AllowedHeaders),
			ExposedHeaders: splitList(r.ExposedHeaders),
		}
		if r.MaxAgeInSeconds != nil {
			rule.MaxAge = time.Duration(*r.MaxAgeInSeconds) * time.Second
		}
		out = append(out, rule)
	}
	return out, nil
}

// splitList splits Azure's comma-separated lists.
func splitList(p *string) []string {
	if p == nil || *p == "" {
		return nil
	}
	var out []string
	for v := range strings.SplitSeq(*p, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
