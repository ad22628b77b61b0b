package s3

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/presignd/presignd/signer"
)

// Against the test server: a bucket that exists probes with the server's
// clock, one that does not fails, and CORS reads the bucket's rules.
func TestCheckerAgainstServer(t *testing.T) {
	s := newServerSigner(t, nil)
	ctx := context.Background()
	p, err := s.Probe(ctx)
	if err != nil {
		t.Fatalf("Probe: %v", err)
	}
	if skew, ok := p.Skew(); !ok || skew > time.Minute || skew < -time.Minute {
		t.Fatalf("skew %s (stated %v), want the server's Date within a minute", skew, ok)
	}
	missing := newServerSigner(t, nil)
	missing.bucket = s.bucket + "-missing"
	if _, err := missing.Probe(ctx); err == nil {
		t.Fatal("Probe of a missing bucket succeeded")
	}
	rules, err := s.CORS(ctx)
	var api smithy.APIError
	if errors.As(err, &api) && api.ErrorCode() == "NotImplemented" {
		// doctor then asks a preflight instead.
		if !errors.Is(err, signer.ErrUnsupported) {
			t.Fatalf("CORS on a server without the API: %v, want an error wrapping signer.ErrUnsupported", err)
		}
		return
	}
	if err != nil || len(rules) != 0 {
		t.Fatalf("CORS of a bucket without rules: %v, %v", rules, err)
	}
	_, err = s.client.PutBucketCors(ctx, &s3.PutBucketCorsInput{Bucket: aws.String(s.bucket), CORSConfiguration: &types.CORSConfiguration{
		CORSRules: []types.CORSRule{{AllowedOrigins: []string{"https://app.example"}, AllowedMethods: []string{"PUT"}, AllowedHeaders: []string{"Content-Type"}}},
	}})
	if errors.As(err, &api) && api.ErrorCode() == "NotImplemented" {
		t.Skipf("the server does not take bucket CORS rules: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	rules, err = s.CORS(ctx)
	if err != nil || len(rules) != 1 || !slices.Equal(rules[0].Origins, []string{"https://app.example"}) || !slices.Equal(rules[0].Headers, []string{"Content-Type"}) {
		t.Fatalf("CORS = %+v, %v", rules, err)
	}
}
