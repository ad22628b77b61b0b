package s3

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/presignd/presignd/signer"
)

var _ signer.Checker = (*Signer)(nil)

// Probe is a HeadBucket: it fails when the credentials are refused, the
// bucket does not exist or S3 cannot be reached, and reports the Date
// header of S3's answer.
func (s *Signer) Probe(ctx context.Context) (signer.Probe, error) {
	sent := time.Now()
	out, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(s.bucket)})
	received := time.Now()
	if err != nil {
		return signer.Probe{}, fmt.Errorf("s3: head bucket %s: %w", s.bucket, classify(ctx, err))
	}
	return signer.Probe{ServerTime: answerDate(out.ResultMetadata), Sent: sent, Received: received}, nil
}

// answerDate is the Date header of the HTTP answer behind md.
func answerDate(md middleware.Metadata) time.Time {
	if r, ok := awsmiddleware.GetRawResponse(md).(*smithyhttp.Response); ok && r != nil {
		return signer.ParseDate(r.Header)
	}
	return time.Time{}
}

// CORS is GetBucketCors: the bucket's rules, none when it has no CORS
// configuration (NoSuchCORSConfiguration, which MinIO answers: it keeps
// one server-wide setting instead). A server without the API
// (NotImplemented) is an error wrapping signer.ErrUnsupported.
func (s *Signer) CORS(ctx context.Context) ([]signer.CORSRule, error) {
	out, err := s.client.GetBucketCors(ctx, &s3.GetBucketCorsInput{Bucket: aws.String(s.bucket)})
	if err != nil {
		var api smithy.APIError
		if errors.As(err, &api) && api.ErrorCode() == "NoSuchCORSConfiguration" {
			return nil, nil
		}
		if errors.As(err, &api) && api.ErrorCode() == "NotImplemented" {
			return nil, fmt.Errorf("s3: get bucket CORS of %s: %w: %w", s.bucket, signer.ErrUnsupported, err)
		}
		return nil, fmt.Errorf("s3: get bucket CORS of %s: %w", s.bucket, classify(ctx, err))
	}
	rules := make([]signer.CORSRule, 0, len(out.CORSRules))
	for _, r := range out.CORSRules {
		rules = append(rules, signer.CORSRule{Origins: r.AllowedOrigins, Methods: r.AllowedMethods, Headers: r.AllowedHeaders})
	}
	return rules, nil
}
