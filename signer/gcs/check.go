package gcs

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/presignd/presignd/signer"
)

var _ signer.Checker = (*Signer)(nil)

// bucketURL is the JSON API URL of the bucket resource.
func (s *Signer) bucketURL() string {
	return strings.TrimSuffix(s.objects, "/o/") + "?alt=json&prettyPrint=false"
}

// getBucket reads the bucket resource with the JSON API, as the
// credentials authenticate, and returns it with the answer's headers.
func (s *Signer) getBucket(ctx context.Context) (sent, received time.Time, h http.Header, body []byte, err error) {
	sent = time.Now()
	status, body, err := s.retrying(ctx, &call{method: http.MethodGet, url: s.bucketURL(), json: true, auth: true, limit: maxResponse, answered: &h})
	received = time.Now()
	if err == nil && status != http.StatusOK {
		err = newAPIError(status, body)
	}
	if err != nil {
		if retryable(ctx, status, err) {
			err = fmt.Errorf("%w: %w", signer.ErrUnavailable, err)
		}
		return sent, received, h, nil, fmt.Errorf("gcs: bucket %s: %w", s.bucket, err)
	}
	return sent, received, h, body, nil
}

// Probe reads the bucket's metadata (a JSON API GET of the bucket, which
// needs storage.buckets.get): it fails when the credentials are refused,
// the bucket does not exist or GCS cannot be reached, and reports GCS's
// Date header.
func (s *Signer) Probe(ctx context.Context) (signer.Probe, error) {
	sent, received, h, _, err := s.getBucket(ctx)
	if err != nil {
		return signer.Probe{}, err
	}
	return signer.Probe{ServerTime: signer.ParseDate(h), Sent: sent, Received: received}, nil
}

// CORS returns the bucket's CORS rules from its metadata. GCS answers a
// preflight's Access-Control-Request-Headers from a rule's responseHeader
// list, so those are the rule's allowed headers.
func (s *Signer) CORS(ctx context.Context) ([]signer.CORSRule, error) {
	_, _, _, body, err := s.getBucket(ctx)
	if err != nil {
		return nil, err
	}
	var b struct {
		CORS []struct {
			Origin []string `json:"origin"`
			Method []string `json:"method"`
			Header []string `json:"responseHeader"`
		} `json:"cors"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, fmt.Errorf("gcs: bucket %s: bucket resource: %w", s.bucket, err)
	}
	rules := make([]signer.CORSRule, 0, len(b.CORS))
	for _, c := range b.CORS {
		rules = append(rules, signer.CORSRule{Origins: c.Origin, Methods: c.Method, Headers: c.Header})
	}
	return rules, nil
}
